// What the scheduler writes about its run: the run directory (config.json, run.json with the
// backend the services report, report.html at the end), metrics.jsonl (rundir.md schema), the
// progress display, and progress events on <prefix>.<run>.progress for whoever draws the bar
// (the local launcher).
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeMessage, type ProgressEvent } from '../control/messages.ts';
import type { RunSubjects } from '../control/subjects.ts';
import type { EvalResult } from '../eval/evaluate.ts';
import { evalRecord } from '../eval/periodic.ts';
import { writeReport } from '../report/report.ts';
import { MetricsLog, readMetrics } from '../run/metrics-log.ts';
import { lineage } from '../run/metrics-lineage.ts';
import { createProgress, type Progress } from '../run/progress.ts';
import { createRunDir, type RunDir, type RunInfo, updateRunInfo, writeConfig, writeRunInfo } from '../run/run-dir.ts';
import type { Logger } from '../telemetry/log.ts';
import type { GanTrainConfig } from '../train/config.ts';
import type { ServiceBackends } from './fleet.ts';

export interface IterationResult {
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
  gp?: number;
  lrD: number;
  lrG: number;
}

export class RunRecords {
  private progress: Progress | undefined;
  private began = performance.now();
  private startIteration = 0;
  /** The last iteration with a train (and sample) record: a re-run after a recovery recomputes
   *  the same values, so its records would only be duplicates. */
  private recordedUpTo: number;
  private sampledUpTo: number;
  private evaluatedUpTo: number;
  private backendJson = '';

  private constructor(
    readonly run: RunDir,
    private readonly metrics: MetricsLog,
    private readonly train: GanTrainConfig,
    private readonly events: { nc: NatsConnection; subjects: RunSubjects },
    private readonly log: Logger,
    private readonly drawProgress: boolean,
    recorded: Recorded,
  ) {
    this.recordedUpTo = recorded.train;
    this.sampledUpTo = recorded.sample;
    this.evaluatedUpTo = recorded.eval;
  }

  /** A fresh run directory (refused when not empty), or the existing one of a resumed run. */
  static async open(
    runDir: string, train: GanTrainConfig, resume: boolean, events: { nc: NatsConnection; subjects: RunSubjects },
    log: Logger, drawProgress: boolean,
  ): Promise<RunRecords> {
    const run = await createRunDir(runDir, 'gan', { resume });
    if (!resume) {
      await writeConfig(run, train);
      await writeRunInfo(run, {
        kind: 'gan', backend: { name: train.backend, device: 'not reported yet by the generator and discriminator' },
        startedAt: new Date().toISOString(), status: 'running', timings: {}, distributed: true,
      });
    } else {
      await updateRunInfo(run, { status: 'running' }).catch(() => undefined); // run.json may predate this scheduler
    }
    const recorded = resume ? await lastRecorded(run.metrics) : { train: 0, sample: 0, eval: 0 };
    return new RunRecords(run, await MetricsLog.open(run.metrics), train, events, log, drawProgress, recorded);
  }

  /** (Re)starts the clock and the bar at iteration `start` (after every generation change). */
  begin(start: number): void {
    this.progress?.stop();
    this.began = performance.now();
    this.startIteration = start;
    if (this.drawProgress) {
      this.progress = createProgress({ total: this.train.iterations, label: `gan ${this.train.preset}`, initial: start, logger: this.log });
    }
    this.publish({ iteration: start, status: 'running' });
  }

  /** Appends the train record (first time only) and publishes progress; returns iterations/s. */
  trainRecord(done: number, m: IterationResult): number {
    const elapsed = (performance.now() - this.began) / 1000;
    const itPerSec = elapsed > 0 ? (done - this.startIteration) / elapsed : 0;
    if (done > this.recordedUpTo) {
      this.metrics.append({ kind: 'train', iteration: done, ...m, itPerSec, elapsedSeconds: elapsed });
      this.recordedUpTo = done;
    }
    this.progress?.update(done, { lossD: m.lossD, lossG: m.lossG, dReal: m.dReal, dFake: m.dFake });
    this.publish({ iteration: done, status: 'running', lossD: m.lossD, lossG: m.lossG, itPerSec });
    return itPerSec;
  }

  sampleRecord(iteration: number, file: string): void {
    if (iteration <= this.sampledUpTo) return;
    this.metrics.append({ kind: 'sample', iteration, path: file });
    this.sampledUpTo = iteration;
  }

  /** True when metrics.jsonl already holds the evaluation of `iteration` (a re-run after a recovery). */
  hasEvalRecord(iteration: number): boolean {
    return iteration <= this.evaluatedUpTo;
  }

  evalRecord(iteration: number, result: EvalResult): void {
    if (iteration <= this.evaluatedUpTo) return;
    this.metrics.append(evalRecord(iteration, result));
    this.evaluatedUpTo = iteration;
  }

  /** run.json's backend: what the services reported at their restore (rewritten only when it changes). */
  async backends(b: ServiceBackends): Promise<void> {
    const backend = runBackend(b, this.train.backend);
    const json = JSON.stringify(backend);
    if (json === this.backendJson) return;
    try {
      await updateRunInfo(this.run, { backend });
      this.backendJson = json;
    } catch (err) {
      this.log.warn('could not record the backend in run.json', { path: this.run.runInfo, error: err }); // a resumed run's may predate it
    }
  }

  checkpointRecord(iteration: number, dir: string, seconds: number): void {
    this.metrics.append({ kind: 'checkpoint', iteration, path: dir, seconds });
  }

  /** A replica group's hashes of its state at checkpoint `iteration` (kind 'weights'); they must agree. */
  weightsRecord(iteration: number, role: string, ranks: readonly { rank: number; weightsHash: string | undefined }[]): void {
    this.metrics.append({ kind: 'weights', iteration, role, ranks: ranks.map((r) => ({ rank: r.rank, weightsHash: r.weightsHash ?? null })) });
  }

  /** Progress event with a status change (recovering, paused, ...) and a human line. */
  status(iteration: number, status: string, message?: string): void {
    this.publish({ iteration, status, ...(message ? { message } : {}) });
  }

  async finish(status: 'completed' | 'stopped', iteration: number): Promise<void> {
    this.close();
    this.publish({ iteration, status });
    await updateRunInfo(this.run, { status, finishedAt: new Date().toISOString(), timings: { trainingSeconds: (performance.now() - this.began) / 1000 } });
    await this.report();
  }

  async fail(message: string, iteration: number): Promise<void> {
    this.metrics.append({ kind: 'error', iteration, message });
    this.close();
    this.publish({ iteration, status: 'failed', message });
    await updateRunInfo(this.run, { status: 'failed', finishedAt: new Date().toISOString(), error: message }).catch(() => undefined);
    await this.report();
  }

  /** report.html, best effort: a run is not failed (or failed again) because its report could not be written. */
  private async report(): Promise<void> {
    try {
      this.log.info('report written', { path: await writeReport(this.run.root) });
    } catch (err) {
      this.log.warn('could not write the run report', { path: this.run.report, error: err });
    }
  }

  close(): void {
    this.progress?.stop();
    this.progress = undefined;
    this.metrics.close();
  }

  private publish(e: Omit<ProgressEvent, 'run' | 'total'>): void {
    const { nc, subjects } = this.events;
    if (nc.isClosed() || nc.isDraining()) return;
    nc.publish(subjects.progress, encodeMessage({ run: subjects.run, total: this.train.iterations, ...e }));
  }
}

interface Recorded { train: number; sample: number; eval: number }

/** The highest iteration of the train, sample and eval records already in metrics.jsonl. */
async function lastRecorded(file: string): Promise<Recorded> {
  const records = lineage(await readMetrics(file).catch(() => []));
  const last = (kind: string): number =>
    Math.max(0, ...records.filter((r) => r.kind === kind && typeof r.iteration === 'number').map((r) => r.iteration as number));
  return { train: last('train'), sample: last('sample'), eval: last('eval') };
}

/**
 * run.json's backend of a distributed run: the generator's and the discriminator's, which are
 * one and the same in a run configured for bit-equal results; both are kept under `services`.
 */
export function runBackend(b: ServiceBackends, requested: string): RunInfo['backend'] {
  const { generator: g, discriminator: d } = b;
  if (!g || !d) return { name: requested, device: 'not reported by the generator and discriminator', services: b };
  if (g.name === d.name && g.device === d.device) return { ...g, services: b };
  return { name: `${g.name} (generator), ${d.name} (discriminator)`, device: `${g.device} (generator), ${d.device} (discriminator)`, services: b };
}
