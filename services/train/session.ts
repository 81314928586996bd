// The life of one training run on disk, shared by the GAN and classifier trainers: backend,
// run directory, config, metrics.jsonl, sample grids, checkpoints, resume, Ctrl-C, failure.
import { initBackend, type BackendInfo } from '../core/backend/select.ts';
import { NonFiniteError } from '../core/errors.ts';
import { createRunDir, samplePath, updateRunInfo, writeConfig, writeRunInfo, type RunDir, type RunKind } from '../run/run-dir.ts';
import { MetricsLog } from '../run/metrics-log.ts';
import { RESUME_KIND } from '../run/metrics-lineage.ts';
import { writeGrid } from '../run/png-grid.ts';
import { readCheckpoint, writeCheckpoint } from '../run/checkpoint.ts';
import { pruneCheckpoints, resumePoint } from '../run/checkpoint-list.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { ModelRole } from '../run/manifest.ts';
import type { Logger } from '../telemetry/log.ts';
import { ConfigError, resumeKey, type ClassifierTrainConfig, type GanTrainConfig } from './config.ts';
import { SAMPLE_GRID_SHAPE } from './sample-grid.ts';
import { writeReport } from '../report/report.ts';

type AnyConfig = GanTrainConfig | ClassifierTrainConfig;

export class RunSession {
  stopRequested = false;
  lastCheckpoint?: string;
  lastCheckpointIteration = -1;
  private readonly started = performance.now();
  private readonly onSignal = (): void => {
    if (this.stopRequested) process.exit(130);
    this.requestStop('interrupt');
  };

  /** Stops the run after the current iteration, with a final checkpoint (Ctrl-C, an AbortSignal). */
  requestStop(why: string): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.log.warn(`${why}: stopping after this iteration and writing a checkpoint (press Ctrl-C again to abort)`);
  }

  /**
   * Lets the event loop turn once. A training loop is synchronous compute between awaits that
   * mostly resolve at once, and Node runs signal handlers (Ctrl-C) and timers only when the loop
   * turns: without this a stop would wait for the next sample grid or checkpoint write.
   */
  async yieldToEventLoop(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Ties the run to an AbortSignal: abort() stops it as Ctrl-C does. */
  watch(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const why = (): string => ((signal.reason as Error | undefined)?.name === 'TimeoutError' ? 'time limit reached' : 'aborted');
    if (signal.aborted) this.requestStop(why());
    else signal.addEventListener('abort', () => this.requestStop(why()), { once: true });
  }

  constructor(
    readonly run: RunDir,
    readonly config: AnyConfig,
    readonly backend: BackendInfo,
    readonly metrics: MetricsLog,
    readonly log: Logger,
  ) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Loads the latest checkpoint when resuming; returns the iteration (or step) to start from. */
  async restore(
    apply: (models: Map<ModelRole, ModelSnapshot>, iteration: number, extra: Record<string, unknown> | undefined) => void | Promise<void>,
  ): Promise<number> {
    if (!this.config.resume) return 0;
    const found = await resumePoint(this.run.checkpoints, {
      onWarning: (w) => this.log.warn(w), restartFromScratch: this.config.restartFromScratch,
    });
    if (!found) {
      this.log.warn('no intact checkpoint to resume from: training from the initial weights', { runDir: this.run.root });
      this.markResume(0, null);
      return 0;
    }
    const dir = found.dir;
    const ckpt = await readCheckpoint(dir);
    if (resumeKey(ckpt.manifest.config as AnyConfig) !== resumeKey(this.config)) {
      throw new ConfigError(
        `cannot resume ${this.run.root}: the configuration differs from the checkpoint's (only iterations/epochs, ` +
          `out, backend and resume may change)`,
      );
    }
    await apply(ckpt.models, ckpt.manifest.iteration, ckpt.manifest.extra);
    this.lastCheckpoint = dir;
    this.lastCheckpointIteration = ckpt.manifest.iteration;
    this.markResume(ckpt.manifest.iteration, dir);
    await updateRunInfo(this.run, { status: 'running', resumedFrom: dir });
    this.log.info('resumed', { checkpoint: dir, iteration: ckpt.manifest.iteration });
    return ckpt.manifest.iteration;
  }

  /** Marks in metrics.jsonl where the run went on from: readers drop what it wrote past that
   *  point before (run/metrics-lineage.ts), as the iterations after it are computed again. */
  markResume(at: number, checkpoint: string | null): void {
    const key = this.run.kind === 'classifier' ? 'step' : 'iteration';
    this.metrics.append({ kind: RESUME_KIND, [key]: at, checkpoint });
  }

  async writeSamples(iteration: number, images: Float32Array): Promise<void> {
    const file = samplePath(this.run, iteration);
    await writeGrid(file, images, SAMPLE_GRID_SHAPE);
    this.metrics.append({ kind: 'sample', iteration, path: file });
  }

  /** `extra` is merged into the manifest's extra (trainer bookkeeping a resume needs). */
  async checkpoint(iteration: number, snapshots: ModelSnapshot[], extra: Record<string, unknown> = {}): Promise<string> {
    const t0 = performance.now();
    const dir = await writeCheckpoint(this.run.checkpoints, {
      kind: this.run.kind, iteration, config: this.config as Record<string, unknown>, snapshots,
      extra: { backend: this.backend.name, ...extra },
    });
    const seconds = (performance.now() - t0) / 1000;
    this.metrics.append({ kind: 'checkpoint', iteration, path: dir, seconds });
    await pruneCheckpoints(this.run.checkpoints, this.config.keepCheckpoints);
    this.lastCheckpoint = dir;
    this.lastCheckpointIteration = iteration;
    return dir;
  }

  /** The end of a run: a checkpoint of `iteration` unless the last one already is. */
  async finalCheckpoint(iteration: number, snapshots: () => ModelSnapshot[], extra: Record<string, unknown> = {}): Promise<string> {
    if (this.lastCheckpoint && this.lastCheckpointIteration === iteration) return this.lastCheckpoint;
    return this.checkpoint(iteration, snapshots(), extra);
  }

  async fail(err: unknown, iteration: number): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof NonFiniteError) {
      this.log.error('non-finite value: run stopped; the last good checkpoint is kept', {
        quantity: err.quantity, iteration: err.iteration, lastCheckpoint: this.lastCheckpoint ?? null,
      });
    }
    this.metrics.append({ kind: 'error', iteration, message });
    await this.close('failed', message);
    await writeReport(this.run.root).catch((e: unknown) => this.log.warn('could not write the report', { error: e }));
  }

  async finish(status: 'completed' | 'stopped'): Promise<void> {
    await this.close(status);
    const report = await writeReport(this.run.root);
    this.log.info('report written', { path: report });
  }

  private async close(status: 'completed' | 'stopped' | 'failed', error?: string): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    this.metrics.close();
    const training = (performance.now() - this.started) / 1000;
    await updateRunInfo(this.run, {
      status, finishedAt: new Date().toISOString(), timings: { trainingSeconds: training }, ...(error ? { error } : {}),
    });
  }
}

export async function openRun(kind: RunKind, config: AnyConfig, log: Logger): Promise<RunSession> {
  const backend = await initBackend(config.backend, log);
  const run = await createRunDir(config.out, kind, { resume: config.resume });
  log.info('run directory', { path: run.root });
  log.info('config', { config });
  await writeConfig(run, config);
  if (!config.resume) {
    await writeRunInfo(run, {
      kind, backend: { name: backend.name, device: backend.device, package: backend.package, kernels: backend.kernels },
      startedAt: new Date().toISOString(), status: 'running', timings: {},
    });
  }
  const metrics = await MetricsLog.open(run.metrics);
  return new RunSession(run, config, backend, metrics, log);
}
