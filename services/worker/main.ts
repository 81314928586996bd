// The worker process (`gantry serve worker`): one replica of a data-parallel classifier group.
// It serves /metrics, a gRPC server (WorkerService for weights; health SERVING once it holds a
// model; reflection), registers itself in KV bucket gantry_workers and rewrites the entry every
// heartbeat, and answers the classifier scheduler's commands on cmd.worker.<key>. On SIGTERM it
// deletes its registration (a clean leave, not a failure) and exits.
import os from 'node:os';
import { initBackend } from '../core/backend/select.ts';
import { toErrorDetails } from '../control/commands.ts';
import { closeNats, connectNats } from '../control/connection.ts';
import { ServiceError } from '../control/errors.ts';
import { newInstanceId } from '../control/heartbeat.ts';
import { untilAborted } from '../control/lifecycle.ts';
import { decodeMessage, encodeMessage } from '../control/messages.ts';
import { workerCmdSubject, workerKey } from '../control/subjects.ts';
import { type WorkerCommand, workerCommandSchema } from '../control/worker-messages.ts';
import { openWorkersBucket, startRegistration } from '../control/worker-registry.ts';
import type { Logger } from '../telemetry/log.ts';
import { createWorkerMetrics } from '../telemetry/worker-metrics.ts';
import { startMetricsServer } from '../telemetry/metrics-server.ts';
import { createServer } from '../wire/server.ts';
import { loadGrpcTls } from '../wire/tls.ts';
import { loadNatsAuth } from '../control/nats-auth.ts';
import { assertListenerAllowed } from '../security/listeners.ts';
import type { WorkerConfig } from './config.ts';
import { CollectiveEndpoint } from '../collective/index.ts';
import { WorkerGrpcService } from './grpc-service.ts';
import { WorkerNode } from './node.ts';

export async function runWorker(cfg: WorkerConfig, log: Logger, signal: AbortSignal): Promise<void> {
  log.info('config', { config: cfg });
  // Security settings first: a bad file or a refused listener fails before the slow backend start.
  const tls = await loadGrpcTls(cfg);
  const natsAuth = await loadNatsAuth(cfg);
  assertListenerAllowed(cfg.grpcHost, cfg.grpcPort, { tls: tls !== undefined, insecure: cfg.insecure });
  const backend = await initBackend(cfg.backend, log);
  const metrics = createWorkerMetrics();
  const metricsServer = await startMetricsServer(metrics.registry, cfg.metricsPort, cfg.metricsHost);
  const key = workerKey(newInstanceId());
  let publisher: { beat(): void } | undefined;
  const endpoint = new CollectiveEndpoint({ runId: cfg.runId });
  const node = new WorkerNode({
    runId: cfg.runId, key, dataDir: cfg.dataDir, rpcTimeoutMs: cfg.rpcTimeoutMs, endpoint, metrics, log, tls,
    onChange: () => {
      server.setServing(node.replica !== undefined);
      publisher?.beat();
    },
  });
  const server = createServer({ metrics, logger: log, tls, runId: cfg.runId, insecure: cfg.insecure });
  new WorkerGrpcService(node.access(), node.loadGate).addToServer(server);
  endpoint.addToServer(server); // the ring's inbound streams, for every generation
  const grpcPort = await server.listen(cfg.grpcPort, cfg.grpcHost);
  const addr = cfg.advertiseAddr ?? advertisedAddress(cfg.grpcHost, grpcPort);
  const nc = await connectNats(cfg.natsUrl, { name: 'gantry-worker', log, auth: natsAuth });
  const kv = await openWorkersBucket(nc);
  const sub = nc.subscribe(workerCmdSubject(cfg.runId, key, cfg.prefix), {
    callback: (err, msg) => {
      if (err) return;
      void answer(node, cfg.runId, msg.data, log).then((reply) => {
        try {
          msg.respond(encodeMessage(reply));
        } catch (e) {
          log.warn('cannot send a reply', { error: e });
        }
      });
    },
  });
  await nc.flush(); // the subscription is on the server before the registration says ready
  const registration = startRegistration(kv, { run: cfg.runId, key, addr }, () => ({
    ready: true, generation: node.joined?.generation ?? null, rank: node.joined?.rank ?? null, applied: node.replica?.applied ?? null,
  }), cfg.heartbeatMs, log);
  publisher = registration;
  log.info('ready', { key, grpcPort, addr, metricsPort: metricsServer.port, run: cfg.runId, backend: backend.name });
  try {
    await Promise.race([untilAborted(signal), nc.closed()]);
  } finally {
    await registration.leave();
    sub.unsubscribe();
    await closeNats(nc);
    await server.shutdown({ graceMs: 1_000 });
    await metricsServer.close();
    node.close();
  }
}

/** Decodes and runs one command; every failure becomes an {ok:false} reply with a code. */
async function answer(node: WorkerNode, run: string, data: Uint8Array, log: Logger): Promise<unknown> {
  let cmd: WorkerCommand | undefined;
  try {
    cmd = decodeMessage(workerCommandSchema, data, 'worker command');
    if (cmd.run !== run) throw new ServiceError('wrong-run', `command for run ${cmd.run} reached a worker of run ${run}`);
    const c = cmd;
    let body: object;
    switch (c.type) {
      case 'prepare': body = await node.prepare(c); break; // not queued: it aborts the step in flight
      case 'join': body = await node.enqueue(() => node.join(c)); break;
      case 'load': body = await node.enqueue(async () => node.load(c)); break;
      case 'step': body = await node.enqueue(() => node.step(c)); break;
      case 'evaluate': body = await node.enqueue(() => node.evaluate(c)); break;
      case 'hash': body = await node.enqueue(() => node.hash(c)); break;
    }
    return { ok: true, ...body };
  } catch (err) {
    const error = toErrorDetails(err);
    if (error.code === 'internal') log.error('command failed', { command: cmd?.type, error: err });
    else log.warn('command refused', { command: cmd?.type, code: error.code, message: error.message });
    return { ok: false, error };
  }
}

/**
 * The address peers dial when GANTRY_ADVERTISE_ADDR is unset. A wildcard bind (0.0.0.0, ::) is
 * no address a peer can dial: advertise the host name instead, which in Compose (`--scale
 * worker=N`, no stable service name per replica) and Kubernetes is the container's, resolvable on
 * their network.
 */
export function advertisedAddress(host: string, port: number): string {
  const wildcard = host === '0.0.0.0' || host === '::' || host === '[::]';
  return `${wildcard ? os.hostname() : host}:${port}`;
}
