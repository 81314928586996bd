// The local cluster: one command runs a distributed GAN run on this machine. It starts
// nats-server (unless given a URL), then the generator, the discriminator (or its N replicas,
// cfg.discriminatorReplicas: ranks 0..N-1, each its own process, ports and log prefix
// "[discriminator.r] ") and the scheduler as separate OS processes (`gantry serve <role>`),
// merges their logs with a "[role] " prefix, draws
// the one progress bar from the scheduler's progress events, and supervises:
//   - a dead generator or discriminator is restarted (same ports: peers find it by config); the
//     scheduler notices, waits for the new instance and resumes from the last checkpoint;
//   - a child that cannot listen on a port picked for it (taken since the pick: exit code 3) is
//     moved to fresh ports, and the members that address it are restarted with the new address;
//   - a scheduler that exits 0 ends the run (completed or stopped); one that exits 1 having failed
//     the run (status 'failed' in KV): everything is stopped and the error is thrown; one that
//     crashed (a signal, or exit 1 with the run not failed) is restarted and resumes from the run
//     state in KV;
//   - an exit or a give-up names what the child last said (its `gantry: ...` line or last error);
//   - nats-server that dies is restarted on the same port with the same JetStream store
//     (RUN_DIR/.cluster/nats): the run state in KV survives, every process reconnects (their
//     clients retry forever) and the run goes on without a restart of anything else;
//   - Ctrl-C (SIGINT/SIGTERM) asks the scheduler to stop after the current iteration with a
//     checkpoint; a second one, or a stop that takes too long, kills everything.
// On every way out all children's process groups and nats-server are stopped: no orphans. The
// children also watch this process (GANTRY_PARENT_PID) in case it is killed outright.
// The launcher's own files live in RUN_DIR/.cluster, never in a temporary directory elsewhere:
// every exit that runs code removes it (an 'exit' hook covers uncaught errors), and one left by
// a launcher killed outright is replaced by the next `--resume`, which starts from the
// checkpoints on disk.
// Monitoring: the run's /metrics targets are published as a file_sd file (prometheus.ts) for
// as long as it runs; with the `prometheus` option a local Prometheus, rules loaded, scrapes them.
import { promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../control/connection.ts';
import { type RemoteErrorDetails } from '../control/errors.ts';
import { EXIT_CODES } from '../control/lifecycle.ts';
import { decodeMessage, encodeMessage, progressSchema } from '../control/messages.ts';
import { type RunState, RunStateStore } from '../control/run-state.ts';
import { type MemberRole, memberToken, runSubjects } from '../control/subjects.ts';
import { createProgress, type Progress } from '../run/progress.ts';
import { resumePoint } from '../run/checkpoint-list.ts';
import { CLUSTER_DIR, timestamp } from '../run/run-dir.ts';
import { childEnvironment } from '../env/mod.ts';
import type { Logger } from '../telemetry/log.ts';
import type { GanTrainConfig } from '../train/config.ts';
import { type ChildExit, ManagedChild } from './child.ts';
import { NatsKeeper } from './nats-keeper.ts';
import { freePorts } from './ports.ts';
import { SERVICE_NODE_FLAGS } from './node-flags.ts';
import { type PrometheusProcess, writeRunTargets } from './prometheus.ts';
import { type LauncherOptions, onInterrupts, type RunPrometheusOptions, startRunPrometheus } from './supervision.ts';

const GANTRY_BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));
const STOP_GRACE_MS = 5_000;
/** Port moves (a picked port taken before the child bound it) before the run is given up. */
const MAX_PORT_MOVES = 10;

/** The ports the run's processes were told to listen on; movePorts changes them. */
interface ClusterPorts {
  gGrpc: number;
  gMetrics: number;
  sMetrics: number;
  /** By discriminator rank. */
  dGrpcs: number[];
  dMetricses: number[];
}

export interface LocalClusterOptions extends LauncherOptions {
  /** Extra environment per child, e.g. scheduler deadlines or test hooks. */
  env?: Partial<Record<MemberRole, Record<string, string>>>;
  /** Restarts allowed per role before the run is given up; default 5. */
  maxRestarts?: number;
  /** Child lifecycle events (tests kill children by pid). */
  onEvent?: (e: ClusterEvent) => void;
}

export type ClusterEvent =
  | { type: 'spawn'; role: MemberRole; /** discriminator replicas */ rank?: number; pid: number }
  | { type: 'exit'; role: MemberRole; rank?: number; pid: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'progress'; iteration: number; total: number; status: string }
  | { type: 'nats'; pid: number; url: string }
  | { type: 'nats-exit'; pid: number; code: number | null }
  | { type: 'prometheus'; pid: number; url: string };

export interface ClusterSummary {
  runId: string;
  runDir: string;
  status: 'completed' | 'stopped';
  /** Iterations completed. */
  iterations: number;
  /** Absolute path of the last complete checkpoint. */
  lastCheckpoint: string | null;
  generation: number;
  restarts: Record<MemberRole, number>;
  /** Times nats-server was restarted. */
  natsRestarts: number;
  seconds: number;
}

/** The run could not finish: it failed (details from KV), a child kept dying, or it was killed. */
export class ClusterFailed extends Error {
  override readonly name = 'ClusterFailed';
  constructor(message: string, readonly details?: RemoteErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export async function runLocalCluster(cfg: GanTrainConfig, opts: LocalClusterOptions): Promise<ClusterSummary> {
  const cluster = new LocalCluster(cfg, opts);
  try {
    return await cluster.run();
  } finally {
    await cluster.shutdown();
  }
}

/** runs/gan-<timestamp> like the in-process trainer, unless cfg.out names one. */
export function clusterRunDir(cfg: GanTrainConfig): string {
  return path.resolve(cfg.out ?? path.join('runs', `gan-${timestamp(new Date())}`));
}

/** A run id (one subject token) from the run directory's name. */
export function runIdFor(runDir: string): string {
  const id = path.basename(runDir).replace(/[^A-Za-z0-9_-]/g, '_').slice(-64);
  return id.length > 0 ? id : 'run';
}

class LocalCluster {
  private readonly log: Logger;
  private readonly output: NodeJS.WritableStream;
  private readonly runDir: string;
  private readonly runId: string;
  /** By member token (subjects.ts memberToken: "discriminator", "discriminator.1", ...). */
  private readonly children = new Map<string, ManagedChild>();
  private readonly restarts: Record<MemberRole, number> = { generator: 0, discriminator: 0, scheduler: 0 };
  private readonly started = performance.now();
  /** RUN_DIR/.cluster: the launcher's files (see the header). */
  private readonly clusterDir: string;
  private readonly nats: NatsKeeper;
  private prometheus: PrometheusProcess | undefined;
  private targetsFile: string | undefined;
  private nc: NatsConnection | undefined;
  private bar: Progress | undefined;
  private stopping = false;
  /** Set once nats-server runs (run()). */
  private natsUrl = '';
  private trainConfig = '';
  private ports!: ClusterPorts;
  private portMoves = 0;
  /** Members stopped on purpose (movePorts): their exit starts them again at once, uncounted. */
  private readonly respawning = new Set<string>();
  private settle!: { resolve: (s: ClusterSummary) => void; reject: (e: Error) => void };
  private readonly removeSignalHandlers: () => void;

  constructor(private readonly cfg: GanTrainConfig, private readonly opts: LocalClusterOptions) {
    this.log = opts.log;
    this.output = opts.output ?? process.stderr;
    this.runDir = clusterRunDir(cfg);
    this.runId = opts.runId ?? runIdFor(this.runDir);
    this.clusterDir = path.join(this.runDir, CLUSTER_DIR);
    this.nats = new NatsKeeper({
      storeDir: path.join(this.clusterDir, 'nats'), log: this.log, maxRestarts: opts.maxRestarts, stopping: () => this.stopping,
      onStart: (n) => this.opts.onEvent?.({ type: 'nats', pid: n.pid, url: n.url }),
      onExit: (n, code) => this.opts.onEvent?.({ type: 'nats-exit', pid: n.pid, code }),
      onGiveUp: (message, cause) => this.fail(new ClusterFailed(message, undefined, { cause })),
    });
    this.removeSignalHandlers = this.installSignalHandlers();
    process.on('exit', this.onExit);
  }

  /**
   * Last resort on an exit that skipped shutdown() (an uncaught error, process.exit): only
   * synchronous calls run here, so children are killed and the files removed without waiting.
   */
  private readonly onExit = (): void => {
    for (const child of this.children.values()) child.signal('SIGKILL');
    this.nats.killSync();
    if (this.prometheus) killGroupSync(this.prometheus.pid);
    if (this.targetsFile) rmSync(this.targetsFile, { force: true });
    rmSync(this.clusterDir, { recursive: true, force: true });
  };

  async run(): Promise<ClusterSummary> {
    const done = new Promise<ClusterSummary>((resolve, reject) => { this.settle = { resolve, reject }; });
    if (this.cfg.resume) {
      // Refused here, before anything starts, with the list of damaged checkpoints.
      await resumePoint(path.join(this.runDir, 'checkpoints'), { restartFromScratch: this.cfg.restartFromScratch });
    }
    // A .cluster left by a launcher that was killed outright: its KV state is not needed, the
    // scheduler resumes from the checkpoints on disk.
    await fsp.rm(this.clusterDir, { recursive: true, force: true });
    await fsp.mkdir(this.clusterDir, { recursive: true });
    const trainConfig = path.join(this.clusterDir, 'train-config.json');
    await fsp.writeFile(trainConfig, JSON.stringify({ ...this.cfg, out: this.runDir }, null, 2));
    const natsUrl = this.opts.natsUrl ?? (await this.nats.start());
    this.nc = await connectNats(natsUrl, { name: 'gantry-launcher', log: this.log });
    if (!this.opts.natsUrl) this.nats.watch(this.nc);
    this.followProgress();
    this.natsUrl = natsUrl;
    this.trainConfig = trainConfig;
    const replicas = this.cfg.discriminatorReplicas ?? 1;
    const [gGrpc, gMetrics, sMetrics, ...dPorts] = await this.pickPorts(3 + 2 * replicas);
    this.ports = { gGrpc, gMetrics, sMetrics, dGrpcs: dPorts.slice(0, replicas), dMetricses: dPorts.slice(replicas) };
    this.log.info('local cluster', {
      run: this.runId, runDir: this.runDir, nats: natsUrl,
      metrics: { generator: gMetrics, discriminator: replicas > 1 ? this.ports.dMetricses : this.ports.dMetricses[0], scheduler: sMetrics },
    });
    await this.writeTargets();
    if (this.opts.prometheus) await this.startPrometheus(this.targetsFile!, this.opts.prometheus);
    for (const { role, rank } of this.members()) this.spawn(role, rank);
    return done;
  }

  private async startPrometheus(targetsFile: string, o: RunPrometheusOptions): Promise<void> {
    this.prometheus = await startRunPrometheus(this.clusterDir, targetsFile, o, { id: this.runId, log: this.log, stopping: () => this.stopping });
    this.opts.onEvent?.({ type: 'prometheus', pid: this.prometheus.pid, url: this.prometheus.url });
  }

  /** Every process of the run: the generator, each discriminator rank, the scheduler. */
  private members(): { role: MemberRole; rank: number }[] {
    const ranks = this.ports.dGrpcs.map((_p, rank) => ({ role: 'discriminator' as const, rank }));
    return [{ role: 'generator', rank: 0 }, ...ranks, { role: 'scheduler', rank: 0 }];
  }

  /**
   * A member's environment, from the ports as they are now. Only the scheduler is told the run
   * directory: it writes every file of it, and moves the services' weights over gRPC (a
   * Kubernetes cluster needs no ReadWriteMany volume either). Local mode binds every listener to
   * loopback, whatever GANTRY_*_HOST the user's environment holds. A replica group: every rank
   * (and the scheduler, which restores each) knows all ranks' addresses.
   */
  private envFor(role: MemberRole, rank: number): NodeJS.ProcessEnv {
    const p = this.ports;
    const addr = (port: number): string => `127.0.0.1:${port}`;
    const group: Record<string, string> = p.dGrpcs.length > 1 ? { GANTRY_DISCRIMINATOR_ADDRS: p.dGrpcs.map(addr).join(',') } : {};
    const common = {
      GANTRY_NATS_URL: this.natsUrl, GANTRY_RUN_ID: this.runId, GANTRY_PARENT_PID: String(process.pid),
      GANTRY_GRPC_HOST: '127.0.0.1', GANTRY_METRICS_HOST: '127.0.0.1',
    };
    const own: Record<MemberRole, () => Record<string, string>> = {
      generator: () => ({
        GANTRY_GRPC_PORT: String(p.gGrpc), GANTRY_METRICS_PORT: String(p.gMetrics), GANTRY_DISCRIMINATOR_ADDR: addr(p.dGrpcs[0]), GANTRY_BACKEND: this.cfg.backend,
      }),
      discriminator: () => ({
        GANTRY_GRPC_PORT: String(p.dGrpcs[rank]), GANTRY_METRICS_PORT: String(p.dMetricses[rank]), GANTRY_GENERATOR_ADDR: addr(p.gGrpc),
        GANTRY_BACKEND: this.cfg.backend, ...group, ...(p.dGrpcs.length > 1 ? { GANTRY_DISCRIMINATOR_RANK: String(rank) } : {}),
      }),
      scheduler: () => ({
        GANTRY_RUN_DIR: this.runDir, GANTRY_METRICS_PORT: String(p.sMetrics), GANTRY_TRAIN_CONFIG: this.trainConfig, GANTRY_PROGRESS: '0',
        GANTRY_GENERATOR_ADDR: addr(p.gGrpc), GANTRY_DISCRIMINATOR_ADDR: addr(p.dGrpcs[0]), ...group,
      }),
    };
    const env = childEnvironment({ ...common, ...own[role](), ...this.opts.env?.[role] });
    if (env.GANTRY_LOG_FORMAT === undefined && (this.output as NodeJS.WriteStream).isTTY) env.GANTRY_LOG_FORMAT = 'pretty';
    return env;
  }

  private pickPorts(count: number): Promise<number[]> {
    return (this.opts.pickPorts ?? freePorts)(count);
  }

  private async writeTargets(): Promise<void> {
    const p = this.ports;
    this.targetsFile = await writeRunTargets(this.runId, [
      { role: 'generator', port: p.gMetrics },
      ...p.dMetricses.map((port, rank) => ({ role: 'discriminator', port, ...(p.dMetricses.length > 1 ? { rank } : {}) })),
      { role: 'scheduler', port: p.sMetrics },
    ], this.opts.targetsDir);
  }

  private spawn(role: MemberRole, rank: number): void {
    const member = memberToken(role, rank);
    const child = new ManagedChild(
      { role: member, command: process.execPath, args: [...SERVICE_NODE_FLAGS, GANTRY_BIN, 'serve', role], env: this.envFor(role, rank) },
      this.output,
      (exit, pid) => this.onChildExit(role, rank, exit, pid),
    );
    this.children.set(member, child);
    const pid = child.start();
    this.opts.onEvent?.({ type: 'spawn', role, ...rankOf(rank), pid });
  }

  /** Starts a member's process again (its ManagedChild keeps the environment it was last given). */
  private respawn(role: MemberRole, rank: number): void {
    const next = this.children.get(memberToken(role, rank))!.start();
    this.opts.onEvent?.({ type: 'spawn', role, ...rankOf(rank), pid: next });
  }

  /**
   * The member could not listen on a port picked for it: something else took the port between
   * the pick and its bind (another program, or another launcher's child). It gets fresh ports;
   * every running member whose environment names the old address is stopped and started again
   * with the new one (the scheduler then resumes from KV, like after a crash). A port move is not
   * a failure: it does not count against maxRestarts, but a run whose ports keep being taken gives up.
   */
  private async movePorts(role: MemberRole, rank: number, how: string): Promise<void> {
    const member = memberToken(role, rank);
    if (this.portMoves >= MAX_PORT_MOVES) {
      this.fail(new ClusterFailed(`the ${member} could not listen (${how}); ${MAX_PORT_MOVES} ports picked in a row were taken, giving up`));
      return;
    }
    this.portMoves++;
    const [grpc, metrics] = await this.pickPorts(2);
    const p = this.ports;
    if (role === 'generator') [p.gGrpc, p.gMetrics] = [grpc, metrics];
    else if (role === 'discriminator') [p.dGrpcs[rank], p.dMetricses[rank]] = [grpc, metrics];
    else p.sMetrics = metrics;
    this.log.warn(`the ${member} could not listen on a port picked for it (${how}); moving it to other ports`, {
      role, ...rankOf(rank), ...(role === 'scheduler' ? {} : { grpcPort: grpc }), metricsPort: metrics,
    });
    await this.writeTargets();
    if (this.stopping) return;
    for (const m of this.members()) {
      const token = memberToken(m.role, m.rank);
      const child = this.children.get(token);
      if (!child) continue;
      const env = this.envFor(m.role, m.rank);
      const changed = Object.keys(env).some((k) => env[k] !== child.spec.env[k]);
      child.spec.env = env;
      if (token === member || !changed || !child.running) continue;
      this.respawning.add(token);
      child.signal('SIGKILL');
    }
    setTimeout(() => {
      if (!this.stopping) this.respawn(role, rank);
    }, 200);
  }

  private onChildExit(role: MemberRole, rank: number, exit: ChildExit, pid: number): void {
    this.opts.onEvent?.({ type: 'exit', role, ...rankOf(rank), pid, code: exit.code, signal: exit.signal });
    if (this.stopping) return;
    const member = memberToken(role, rank);
    if (this.respawning.delete(member)) {
      this.respawn(role, rank); // stopped by movePorts, to learn a peer's new address
      return;
    }
    const said = this.children.get(member)?.lastWords();
    const how = (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`) + (said ? `: ${said}` : '');
    if (role === 'scheduler' && exit.code === 0) {
      void this.finishFromKv();
      return;
    }
    if (role === 'scheduler' && exit.code === 1) {
      void this.failOrRestart(how);
      return;
    }
    if (exit.code === EXIT_CODES.usage) {
      this.fail(new ClusterFailed(`the ${member} rejected its configuration (exit code 2${said ? `: ${said}` : ''})`));
      return;
    }
    if (exit.code === EXIT_CODES.addressInUse) {
      void this.movePorts(role, rank, how);
      return;
    }
    this.restart(role, how, rank);
  }

  /** Restarts count per role (a replica group's ranks together). */
  private restart(role: MemberRole, how: string, rank = 0): void {
    const member = memberToken(role, rank);
    if (this.restarts[role] >= (this.opts.maxRestarts ?? 5)) {
      this.fail(new ClusterFailed(`the ${role} died ${this.restarts[role] + 1} times (last: ${member}, ${how}); giving up`));
      return;
    }
    this.restarts[role]++;
    this.log.warn(`the ${member} exited (${how}); restarting it`, { role, ...rankOf(rank), pid: this.children.get(member)?.pid, restart: this.restarts[role] });
    const child = this.children.get(member)!;
    setTimeout(() => {
      if (this.stopping) return;
      const next = child.start();
      this.opts.onEvent?.({ type: 'spawn', role, ...rankOf(rank), pid: next });
    }, 200);
  }

  /** The run's state in KV; retried for a while, since nats-server may be restarting. */
  private async runState(): Promise<RunState | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        const store = await RunStateStore.open(this.nc!, { create: false });
        return (await store.get(this.runId))?.state;
      } catch (err) {
        if (attempt >= 20 || this.stopping || answered(err)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async finishFromKv(): Promise<void> {
    try {
      const s = await this.runState();
      if (!s || (s.status !== 'completed' && s.status !== 'stopped')) {
        throw new ClusterFailed(`the scheduler exited without finishing the run (status ${s?.status ?? 'unknown'})`);
      }
      this.settle.resolve({
        runId: this.runId, runDir: this.runDir, status: s.status, iterations: s.iteration,
        lastCheckpoint: s.lastCheckpoint ? path.join(this.runDir, s.lastCheckpoint.path) : null,
        generation: s.generation, restarts: { ...this.restarts }, natsRestarts: this.nats.restarts, seconds: (performance.now() - this.started) / 1000,
      });
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /**
   * A scheduler that exits 1 after marking the run failed in KV ends the run with that error. One
   * that exits 1 without (it threw before or outside the run: a port taken, NATS refused) crashed,
   * and is restarted like any crash; a fault that persists gives up after maxRestarts.
   */
  private async failOrRestart(how: string): Promise<void> {
    const s = await this.runState().catch(() => undefined);
    if (this.stopping) return;
    if (s?.status === 'failed') {
      const why = s.error?.message.replace(/^run failed: /, '') ?? `the scheduler exited with ${how}`;
      this.fail(new ClusterFailed(`run ${this.runId} failed: ${why}`, s.error));
      return;
    }
    this.restart('scheduler', how);
  }

  private fail(err: Error): void {
    this.settle?.reject(err);
  }

  private followProgress(): void {
    const subjects = runSubjects(this.runId);
    this.nc!.subscribe(subjects.progress, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const e = decodeMessage(progressSchema, msg.data, 'progress event');
          this.opts.onEvent?.({ type: 'progress', iteration: e.iteration, total: e.total, status: e.status });
          if (this.opts.progress === false) return;
          if (e.status === 'running' && (e.lossD !== undefined || !this.bar)) this.drawProgress(e.iteration, e.total, e.lossD, e.lossG);
          if (e.message) this.log.info(e.message, { status: e.status, iteration: e.iteration });
        } catch (e) {
          this.log.warn('ignoring a malformed progress event', { error: e });
        }
      },
    });
  }

  private drawProgress(iteration: number, total: number, lossD?: number, lossG?: number): void {
    this.bar ??= createProgress({ total, label: `gan ${this.cfg.preset}`, initial: iteration, logger: this.log });
    this.bar.update(iteration, lossD === undefined || lossG === undefined ? {} : { lossD, lossG });
  }

  private installSignalHandlers(): () => void {
    return onInterrupts(this.opts, (count) => {
      if (count === 1) this.requestStop();
      else this.fail(new ClusterFailed('interrupted twice: stopped without waiting for the scheduler'));
    });
  }

  /** First Ctrl-C: the scheduler stops after this iteration and writes a checkpoint. */
  private requestStop(): void {
    this.log.warn('interrupt: stopping after this iteration and writing a checkpoint (press Ctrl-C again to abort)');
    if (!this.nc || this.nc.isClosed() || !this.children.get('scheduler')?.running) {
      this.fail(new ClusterFailed('interrupted before the run started'));
      return;
    }
    this.nc.publish(runSubjects(this.runId).control, encodeMessage({ type: 'stop', run: this.runId, reason: 'interrupted (launcher)' }));
    setTimeout(() => this.fail(new ClusterFailed('interrupted: the scheduler did not stop in time')), 60_000).unref();
  }

  /** Stops every child (process groups), then nats-server; removes RUN_DIR/.cluster. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    process.off('exit', this.onExit);
    this.removeSignalHandlers();
    this.bar?.stop();
    // Services first would make a still-running scheduler see deaths; the scheduler goes first.
    await this.children.get('scheduler')?.stop(STOP_GRACE_MS);
    await Promise.all([...this.children.values()].map((c) => c.stop(STOP_GRACE_MS)));
    await closeNats(this.nc);
    await this.nats.stop(STOP_GRACE_MS);
    await this.prometheus?.stop(STOP_GRACE_MS);
    if (this.targetsFile) await fsp.rm(this.targetsFile, { force: true });
    await fsp.rm(this.clusterDir, { recursive: true, force: true });
  }
}

/** JetStream itself answered (e.g. no such bucket): retrying cannot help. */
function answered(err: unknown): boolean {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) if (cur instanceof JetStreamApiError) return true;
  return false;
}

function killGroupSync(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The rank field of a cluster event: only for a replica group's ranks above 0. */
function rankOf(rank: number): { rank?: number } {
  return rank > 0 ? { rank } : {};
}
