// The life of a generator or discriminator process, shared by both roles: backend, /metrics,
// the gRPC server (data plane), the NATS connection and ServiceHost (control plane), then a wait
// for SIGINT/SIGTERM and an orderly shutdown. The role's main.ts supplies its gRPC service and
// command handlers.
import { type BackendChoice, type BackendInfo, initBackend } from '../core/backend/select.ts';
import type { Logger } from '../telemetry/log.ts';
import { createMetrics, type Metrics } from '../telemetry/metrics.ts';
import { startMetricsServer } from '../telemetry/metrics-server.ts';
import { createServer, type GantryServer } from '../wire/server.ts';
import { assertListenerAllowed } from '../security/listeners.ts';
import { loadGrpcTls, type GrpcTls, type TlsFileSettings } from '../wire/tls.ts';
import type { CommandHandlers } from './commands.ts';
import { closeNats, connectNats } from './connection.ts';
import { loadNatsAuth, type NatsAuthSettings } from './nats-auth.ts';
import { newInstanceId } from './heartbeat.ts';
import { untilAborted } from './lifecycle.ts';
import type { BackendReport } from './messages.ts';
import { ServiceHost } from './service-host.ts';
import { runSubjects, type ServiceRole } from './subjects.ts';

export interface ServiceProcessConfig extends TlsFileSettings, NatsAuthSettings {
  natsUrl: string;
  runId: string;
  prefix: string;
  metricsPort: number;
  metricsHost: string;
  heartbeatMs: number;
  grpcHost: string;
  grpcPort: number;
  advertiseAddr?: string;
  backend: BackendChoice;
  insecure?: boolean;
  /** This process's rank in a replica group (discriminator replicas): the rank label of its
   *  metrics and its member subjects (subjects.ts). Absent: no group (no rank label). */
  rank?: number;
}

export interface ServiceContext {
  backend: BackendInfo;
  metrics: Metrics;
  log: Logger;
  /** The data-plane TLS files, for the clients of the peer (undefined: plaintext). */
  tls?: GrpcTls;
}

export interface ServiceSpec {
  role: ServiceRole;
  /** Registers the role's gRPC service (it reaches the model through a NodeSlot view). */
  addGrpc(server: GantryServer, ctx: ServiceContext): void;
  handlers(ctx: ServiceContext): CommandHandlers;
  /** The model's last applied iteration, for heartbeats. */
  lastIteration(): number | undefined;
  close(): void;
}

/** What the scheduler records in run.json: the backend this process really computes on. */
export function backendReport(b: BackendInfo): BackendReport {
  return { name: b.name, device: b.device, package: b.package, kernels: b.kernels };
}

export async function runServiceProcess(spec: ServiceSpec, cfg: ServiceProcessConfig, log: Logger, signal: AbortSignal): Promise<void> {
  log.info('config', { config: cfg });
  // Security settings first: a bad file or a refused listener fails before the slow backend start.
  const tls = await loadGrpcTls(cfg);
  const natsAuth = await loadNatsAuth(cfg);
  assertListenerAllowed(cfg.grpcHost, cfg.grpcPort, { tls: tls !== undefined, insecure: cfg.insecure ?? false });
  const backend = await initBackend(cfg.backend, log);
  const metrics = createMetrics(spec.role, cfg.rank === undefined ? {} : { rank: cfg.rank });
  const ctx: ServiceContext = { backend, metrics, log, tls };
  const metricsServer = await startMetricsServer(metrics.registry, cfg.metricsPort, cfg.metricsHost);
  const server = createServer({ metrics, logger: log, tls, runId: cfg.runId, insecure: cfg.insecure });
  spec.addGrpc(server, ctx);
  let grpcPort: number;
  try {
    grpcPort = await server.listen(cfg.grpcPort, cfg.grpcHost);
  } catch (err) {
    // Nothing may keep the process alive after a failed start (a taken port: the launcher moves it).
    await metricsServer.close();
    spec.close();
    throw err;
  }
  const nc = await connectNats(cfg.natsUrl, { name: `gantry-${spec.role}${cfg.rank ? `-${cfg.rank}` : ''}`, log, auth: natsAuth });
  const host = new ServiceHost({
    nc, subjects: runSubjects(cfg.runId, cfg.prefix), role: spec.role, rank: cfg.rank ?? 0, instance: newInstanceId(), log,
    heartbeatMs: cfg.heartbeatMs, grpcAddr: cfg.advertiseAddr ?? `${cfg.grpcHost}:${grpcPort}`, iteration: () => spec.lastIteration(),
  });
  const handlers = spec.handlers(ctx);
  const restore = handlers.restore;
  if (restore) {
    handlers.restore = async (cmd) => {
      const reply = await restore(cmd);
      server.setServing(true); // gRPC health: SERVING once there is a model behind it
      return { ...reply, backend: backendReport(backend) };
    };
  }
  host.start(handlers);
  // 'ready' promises that commands are answered: the server must hold the subscription first
  // (subscribe only queues it on this connection).
  await nc.flush();
  log.info('ready', { grpcPort, metricsPort: metricsServer.port, run: cfg.runId, backend: backend.name });
  try {
    await Promise.race([untilAborted(signal), nc.closed()]);
  } finally {
    host.stop();
    await closeNats(nc);
    await server.shutdown({ graceMs: 1_000 });
    await metricsServer.close();
    spec.close();
  }
}
