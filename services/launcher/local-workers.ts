// The local data-parallel classifier: `gantry train classifier --workers N` starts nats-server
// (unless given a URL), the classifier scheduler and N workers (`gantry serve worker`) as
// separate OS processes on loopback, merges their logs with a "[role] " prefix, draws one
// progress bar from the scheduler's progress events, and supervises:
//   - a child whose /metrics port was taken since the pick (exit code 3) starts again on another;
//   - a worker that dies is NOT restarted: the group goes on without it at the next generation
//     (elastic membership); addWorker() starts another one, which joins at a step boundary;
//   - a scheduler that exits 0 ends the run (completed or stopped, read from KV); one that exits 1
//     having failed the run fails it; one that crashed is restarted (up to 5 times), takes the run
//     over from KV and resumes from the last complete checkpoint;
//   - nats-server that dies is restarted on the same port with the same JetStream store
//     (RUN_DIR/.cluster/nats, nats-keeper.ts): the run state and the worker registrations in KV
//     survive, every process reconnects, and the run goes on;
//   - Ctrl-C asks the scheduler to stop after the current step with a checkpoint; a second one
//     stops everything.
// On every way out all children's process groups and nats-server are stopped: no orphans. The
// launcher's own files (train config, nats-server's store, Prometheus' data) live in
// RUN_DIR/.cluster and are removed on the way out.
// Monitoring: every process gets a known /metrics port; the run's targets (the scheduler and each
// worker, role "worker") are published as a file_sd file (prometheus.ts) and rewritten when a
// worker is added; with the `prometheus` option a local Prometheus, rules loaded, scrapes them.
// Workers label their own series with their rank (setRank), which honor_labels keeps.
import { childEnvironment } from '../env/mod.ts';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../control/connection.ts';
import { EXIT_CODES } from '../control/lifecycle.ts';
import { decodeMessage, encodeMessage, progressSchema } from '../control/messages.ts';
import { RunStateStore } from '../control/run-state.ts';
import { runSubjects } from '../control/subjects.ts';
import { createProgress, type Progress } from '../run/progress.ts';
import { CLUSTER_DIR, timestamp } from '../run/run-dir.ts';
import type { ClassifierTrainConfig } from '../train/config.ts';
import { ManagedChild } from './child.ts';
import { ClusterFailed, runIdFor } from './local-cluster.ts';
import { NatsKeeper } from './nats-keeper.ts';
import { freePorts } from './ports.ts';
import { SERVICE_NODE_FLAGS } from './node-flags.ts';
import { type PrometheusProcess, type ScrapeTarget, writeRunTargets } from './prometheus.ts';
import { type LauncherOptions, onInterrupts, type RunPrometheusOptions, startRunPrometheus } from './supervision.ts';

const GANTRY_BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));
const STOP_GRACE_MS = 5_000;
const MAX_SCHEDULER_RESTARTS = 5;
/** Port moves (a picked /metrics port taken before the child bound it) before the run is given up. */
const MAX_PORT_MOVES = 10;

export interface LocalWorkersOptions extends LauncherOptions {
  /** Extra environment of the scheduler and of every worker (deadlines, heartbeats). */
  env?: { scheduler?: Record<string, string>; worker?: Record<string, string> };
  onEvent?: (e: WorkersEvent) => void;
}

export type WorkersEvent =
  | { type: 'spawn'; role: 'scheduler' | 'worker'; pid: number; index: number }
  | { type: 'exit'; role: 'scheduler' | 'worker'; pid: number; index: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: 'progress'; iteration: number; total: number; status: string }
  | { type: 'prometheus'; pid: number; url: string }
  | { type: 'nats'; pid: number; url: string }
  | { type: 'nats-exit'; pid: number; code: number | null };

export interface WorkersSummary {
  runId: string;
  runDir: string;
  status: 'completed' | 'stopped';
  steps: number;
  generation: number;
  lastCheckpoint: string | null;
  seconds: number;
}

export function workersRunDir(cfg: ClassifierTrainConfig): string {
  return path.resolve(cfg.out ?? path.join('runs', `classifier-${timestamp(new Date())}`));
}

export class LocalWorkers {
  readonly runDir: string;
  readonly runId: string;
  private readonly output: NodeJS.WritableStream;
  private readonly workers: ManagedChild[] = [];
  private scheduler: ManagedChild | undefined;
  private readonly started = performance.now();
  /** RUN_DIR/.cluster: the launcher's files. */
  private readonly clusterDir: string;
  private readonly nats: NatsKeeper;
  private nc: NatsConnection | undefined;
  private natsUrl = '';
  private prometheus: PrometheusProcess | undefined;
  private targetsFile: string | undefined;
  private readonly targets: ScrapeTarget[] = [];
  private bar: Progress | undefined;
  private stopping = false;
  private schedulerRestarts = 0;
  private portMoves = 0;
  private settle!: { resolve: (s: WorkersSummary) => void; reject: (e: Error) => void };
  private readonly done: Promise<WorkersSummary>;
  private readonly removeSignalHandlers: () => void;

  constructor(private readonly cfg: ClassifierTrainConfig, private readonly opts: LocalWorkersOptions) {
    this.output = opts.output ?? process.stderr;
    this.runDir = workersRunDir(cfg);
    this.runId = opts.runId ?? runIdFor(this.runDir);
    this.done = new Promise((resolve, reject) => { this.settle = { resolve, reject }; });
    this.clusterDir = path.join(this.runDir, CLUSTER_DIR);
    this.nats = new NatsKeeper({
      storeDir: path.join(this.clusterDir, 'nats'), log: opts.log, stopping: () => this.stopping,
      onStart: (n) => this.opts.onEvent?.({ type: 'nats', pid: n.pid, url: n.url }),
      onExit: (n, code) => this.opts.onEvent?.({ type: 'nats-exit', pid: n.pid, code }),
      onGiveUp: (message, cause) => this.settle.reject(new ClusterFailed(message, undefined, { cause })),
    });
    this.removeSignalHandlers = this.installSignalHandlers();
  }

  /** Starts everything; resolves when the run ends. */
  async run(): Promise<WorkersSummary> {
    // One left by a launcher killed outright is replaced: the run state is in the checkpoints.
    await fsp.rm(this.clusterDir, { recursive: true, force: true });
    await fsp.mkdir(this.clusterDir, { recursive: true });
    const trainConfig = path.join(this.clusterDir, 'train-config.json');
    await fsp.writeFile(trainConfig, JSON.stringify({ ...this.cfg, out: this.runDir }, null, 2));
    this.natsUrl = this.opts.natsUrl ?? (await this.nats.start());
    this.nc = await connectNats(this.natsUrl, { name: 'gantry-launcher', log: this.opts.log });
    if (!this.opts.natsUrl) this.nats.watch(this.nc);
    this.followProgress();
    const metricsPort = await this.pickPort();
    this.opts.log.info('local workers', { run: this.runId, runDir: this.runDir, nats: this.natsUrl, workers: this.cfg.workers, schedulerMetrics: metricsPort });
    const target: ScrapeTarget = { role: 'scheduler', port: metricsPort };
    this.targets.push(target);
    await this.publishTargets();
    if (this.opts.prometheus) await this.startPrometheus(this.opts.prometheus);
    this.scheduler = this.child('scheduler', 0, target, {
      ...this.common(), GANTRY_RUN_KIND: 'classifier', GANTRY_TRAIN_CONFIG: trainConfig, GANTRY_PROGRESS: '0',
      GANTRY_METRICS_PORT: String(metricsPort), ...this.opts.env?.scheduler,
    });
    for (let i = 0; i < this.cfg.workers; i++) await this.addWorker();
    return this.done;
  }

  /** Starts one more worker (it joins the group at the next step boundary) and publishes its
   *  /metrics target; resolves to its pid. */
  async addWorker(): Promise<number> {
    const index = this.workers.length;
    const metricsPort = await this.pickPort();
    const target: ScrapeTarget = { role: 'worker', port: metricsPort };
    const child = this.child('worker', index, target, {
      ...this.common(), GANTRY_GRPC_PORT: '0', GANTRY_METRICS_PORT: String(metricsPort), GANTRY_BACKEND: this.cfg.backend, ...this.opts.env?.worker,
    });
    this.workers.push(child);
    this.targets.push(target);
    await this.publishTargets();
    return child.pid!;
  }

  private async pickPort(): Promise<number> {
    return (await (this.opts.pickPorts ?? freePorts)(1))[0];
  }

  private async publishTargets(): Promise<void> {
    this.targetsFile = await writeRunTargets(this.runId, this.targets, this.opts.targetsDir);
  }

  private async startPrometheus(o: RunPrometheusOptions): Promise<void> {
    this.prometheus = await startRunPrometheus(this.clusterDir, this.targetsFile!, o, { id: this.runId, log: this.opts.log, stopping: () => this.stopping });
    this.opts.onEvent?.({ type: 'prometheus', pid: this.prometheus.pid, url: this.prometheus.url });
  }

  /** Pids of the worker processes still running, by start order. */
  workerPids(): number[] {
    return this.workers.filter((w) => w.running).map((w) => w.pid!);
  }

  private common(): Record<string, string> {
    return { GANTRY_NATS_URL: this.natsUrl, GANTRY_RUN_ID: this.runId, GANTRY_RUN_DIR: this.runDir, GANTRY_PARENT_PID: String(process.pid) };
  }

  private child(role: 'scheduler' | 'worker', index: number, target: ScrapeTarget, env: Record<string, string>): ManagedChild {
    const childEnv = childEnvironment(env);
    if (childEnv.GANTRY_LOG_FORMAT === undefined && (this.output as NodeJS.WriteStream).isTTY) childEnv.GANTRY_LOG_FORMAT = 'pretty';
    const name = role === 'worker' ? `worker-${index}` : role;
    const child: ManagedChild = new ManagedChild({ role: name, command: process.execPath, args: [...SERVICE_NODE_FLAGS, GANTRY_BIN, 'serve', role], env: childEnv }, this.output,
      (exit, pid) => {
        this.opts.onEvent?.({ type: 'exit', role, pid, index, code: exit.code, signal: exit.signal });
        if (this.stopping) return;
        const how = (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`) + (child.lastWords() ? `: ${child.lastWords()}` : '');
        if (exit.code === EXIT_CODES.addressInUse) void this.moveMetrics(child, { role, index }, target, how);
        else if (role === 'worker') this.opts.log.warn(`${name} exited (${how}); the group goes on without it`, { pid });
        else if (exit.code === 0) void this.finishFromKv();
        else void this.failOrRestart(child, how);
      });
    const pid = child.start();
    this.opts.onEvent?.({ type: 'spawn', role, pid, index });
    return child;
  }

  /**
   * The child's /metrics port was taken between the pick and its bind (exit code 3; workers'
   * gRPC listens on port 0): it starts again on a fresh port, uncounted; the run gives up only
   * when ports keep being taken.
   */
  private async moveMetrics(child: ManagedChild, who: { role: 'scheduler' | 'worker'; index: number }, target: ScrapeTarget, how: string): Promise<void> {
    if (this.portMoves >= MAX_PORT_MOVES) {
      this.settle.reject(new ClusterFailed(`the ${child.spec.role} could not listen (${how}); ${MAX_PORT_MOVES} ports picked in a row were taken, giving up`));
      return;
    }
    this.portMoves++;
    target.port = await this.pickPort();
    child.spec.env = { ...child.spec.env, GANTRY_METRICS_PORT: String(target.port) };
    this.opts.log.warn(`the ${child.spec.role} could not listen on the /metrics port picked for it (${how}); moving it to ${target.port}`);
    await this.publishTargets();
    if (this.stopping) return;
    const pid = child.start();
    this.opts.onEvent?.({ type: 'spawn', ...who, pid });
  }

  /**
   * A scheduler that exits 1 having marked the run failed in KV ends it; one that crashed (a
   * signal, or an exit without a failed run) is restarted: it takes the run over from KV, and the
   * workers roll back to the last complete checkpoint (at most checkpointEvery steps are redone).
   */
  private async failOrRestart(child: ManagedChild, how: string): Promise<void> {
    const store = await RunStateStore.open(this.nc!, { create: false }).catch(() => undefined);
    const s = await store?.get(this.runId).catch(() => null);
    if (this.stopping) return;
    if (s?.state.status === 'failed' || this.schedulerRestarts >= MAX_SCHEDULER_RESTARTS) {
      const why = s?.state.status === 'failed' ? s.state.error?.message ?? how : `${how}; restarted ${this.schedulerRestarts} times, giving up`;
      this.settle.reject(new ClusterFailed(`the scheduler exited (${why})`, s?.state.error));
      return;
    }
    this.schedulerRestarts++;
    this.opts.log.warn(`the scheduler exited (${how}); restarting it`, { restart: this.schedulerRestarts });
    setTimeout(() => {
      if (this.stopping) return;
      const pid = child.start();
      this.opts.onEvent?.({ type: 'spawn', role: 'scheduler', pid, index: 0 });
    }, 200);
  }

  /** The scheduler's pid while it runs (tests kill it). */
  schedulerPid(): number | undefined {
    return this.scheduler?.running ? this.scheduler.pid : undefined;
  }

  private async finishFromKv(): Promise<void> {
    try {
      const store = await RunStateStore.open(this.nc!, { create: false });
      const s = (await store.get(this.runId))?.state;
      if (!s || (s.status !== 'completed' && s.status !== 'stopped')) {
        throw new ClusterFailed(`the scheduler exited without finishing the run (status ${s?.status ?? 'unknown'}${s?.error ? `: ${s.error.message}` : ''})`, s?.error);
      }
      this.settle.resolve({
        runId: this.runId, runDir: this.runDir, status: s.status, steps: s.iteration, generation: s.generation,
        lastCheckpoint: s.lastCheckpoint ? path.join(this.runDir, s.lastCheckpoint.path) : null, seconds: (performance.now() - this.started) / 1000,
      });
    } catch (err) {
      this.settle.reject(err as Error);
    }
  }

  private followProgress(): void {
    this.nc!.subscribe(runSubjects(this.runId).progress, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const e = decodeMessage(progressSchema, msg.data, 'progress event');
          this.opts.onEvent?.({ type: 'progress', iteration: e.iteration, total: e.total, status: e.status });
          if (this.opts.progress === false) return;
          if (e.status === 'running') {
            this.bar ??= createProgress({ total: e.total, label: `classifier ${this.cfg.preset} x${this.cfg.workers}`, initial: e.iteration, logger: this.opts.log });
            this.bar.update(e.iteration, e.loss === undefined ? {} : { loss: e.loss, acc: e.accuracy ?? 0 });
          }
          if (e.message) this.opts.log.info(e.message, { status: e.status, step: e.iteration });
        } catch (e) {
          this.opts.log.warn('ignoring a malformed progress event', { error: e });
        }
      },
    });
  }

  private installSignalHandlers(): () => void {
    return onInterrupts(this.opts, (count) => {
      if (count > 1 || !this.nc || !this.scheduler?.running) {
        this.settle.reject(new ClusterFailed('interrupted: stopped without waiting for the scheduler'));
        return;
      }
      this.opts.log.warn('interrupt: stopping after this step and writing a checkpoint (press Ctrl-C again to abort)');
      this.nc.publish(runSubjects(this.runId).control, encodeMessage({ type: 'stop', run: this.runId, reason: 'interrupted (launcher)' }));
    });
  }

  /** Stops the scheduler, then every worker, then nats-server; removes RUN_DIR/.cluster. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.removeSignalHandlers();
    this.bar?.stop();
    await this.scheduler?.stop(STOP_GRACE_MS);
    await Promise.all(this.workers.map((w) => w.stop(STOP_GRACE_MS)));
    await closeNats(this.nc);
    await this.nats.stop(STOP_GRACE_MS);
    await this.prometheus?.stop(STOP_GRACE_MS);
    if (this.targetsFile) await fsp.rm(this.targetsFile, { force: true });
    await fsp.rm(this.clusterDir, { recursive: true, force: true });
  }
}

/** Runs a whole local data-parallel classifier run and cleans up after it. */
export async function runLocalWorkers(cfg: ClassifierTrainConfig, opts: LocalWorkersOptions): Promise<WorkersSummary> {
  const cluster = new LocalWorkers(cfg, opts);
  try {
    return await cluster.run();
  } finally {
    await cluster.shutdown();
  }
}
