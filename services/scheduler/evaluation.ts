// Periodic evaluation in a distributed run (protocol step d in scheduler.ts): every evalEvery
// iterations the scheduler sends `eval` to the generator, which scores G with the run's classifier
// exactly as the in-process trainer's evaluator does (same module, same seed, same sample count),
// and writes the scores as an {kind: 'eval'} record into metrics.jsonl and the gantry_eval_score
// gauge. A generator without a usable classifier answers scores: null (it logs why); the
// scheduler logs that once and stops asking, and training goes on.
//
// Drawing and classifying the images is synchronous on the generator's main thread (the first
// evaluation also loads the classifier and may compute its reference statistics), so its
// heartbeats pause meanwhile: the command gets its own deadline and liveness window
// (evalTimeoutMs) instead of the step commands' ones. The distances run on a worker thread.
import type { EvalScores } from '../control/messages.ts';
import type { Logger } from '../telemetry/log.ts';
import type { SchedulerMetrics } from '../telemetry/scheduler-metrics.ts';
import type { EvalResult } from '../eval/evaluate.ts';
import type { GanTrainConfig } from '../train/config.ts';
import type { Fleet } from './fleet.ts';
import type { RunRecords } from './run-records.ts';

export class RunEvaluation {
  private off = false;

  constructor(
    private readonly fleet: Fleet,
    private readonly records: RunRecords,
    private readonly train: GanTrainConfig,
    private readonly timeoutMs: number,
    private readonly metrics: SchedulerMetrics,
    private readonly log: Logger,
  ) {}

  /** True when iteration `done` is an evaluation iteration not yet in metrics.jsonl (and evaluation is still on). */
  due(done: number): boolean {
    const every = this.train.evalEvery;
    return !this.off && every > 0 && done > 0 && done % every === 0 && !this.records.hasEvalRecord(done);
  }

  /** Scores G after `done` iterations when due; records the result. */
  async maybeEvaluate(done: number): Promise<void> {
    if (!this.due(done)) return;
    const limits = { timeoutMs: this.timeoutMs, livenessMs: this.timeoutMs };
    const reply = await this.fleet.call('generator', 'eval', { iteration: done }, limits);
    if (!reply.scores) {
      this.off = true;
      this.log.warn('periodic evaluation is off: the generator has no usable classifier (its log says why); training goes on', {
        iteration: done, classifier: this.train.classifier ?? null,
      });
      return;
    }
    const result = toEvalResult(reply.scores);
    this.records.evalRecord(done, result);
    this.observe(result);
    this.log.info('evaluation', {
      iteration: done, seconds: Number(reply.seconds.toFixed(3)), mnistScore: result.mnistScore,
      fdFeatures: result.fdFeatures, classesCovered: result.classesCovered,
    });
  }

  private observe(r: EvalResult): void {
    const set = (metric: string, v: number | undefined): void => {
      if (v !== undefined) this.metrics.evalScore.set({ metric }, v);
    };
    set('mnist_score', r.mnistScore);
    set('fd_features', r.fdFeatures);
    set('fd_logits', r.fdLogits);
    set('classes_covered', r.classesCovered);
  }
}

/** The scores as the generator computed them: a null (a non-finite value on the wire) is NaN again. */
export function toEvalResult(s: EvalScores): EvalResult {
  const num = (v: number | null): number => (v === null ? Number.NaN : v);
  return {
    mnistScore: num(s.mnistScore), histogram: s.histogram, classesCovered: s.classesCovered, klUniform: num(s.klUniform),
    samples: s.samples,
    ...(s.fdFeatures === undefined ? {} : { fdFeatures: num(s.fdFeatures) }),
    ...(s.fdLogits === undefined ? {} : { fdLogits: num(s.fdLogits) }),
  };
}
