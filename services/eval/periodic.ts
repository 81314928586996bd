// Evaluation during training: every `every` iterations the trainer (or the scheduler) hands over
// its generator and gets the scores back to log as a {kind: 'eval'} metrics record. The
// classifier and the reference statistics are loaded on the first due iteration, not at start-up,
// so a run without a classifier starts at once; when none can be found the evaluator logs that
// once and turns itself off, and training goes on.
// Batch i of the samples uses z from deriveSeed(seed, 'eval', i), exactly as `gantry eval --seed`
// does: with the run's seed and the same sample count and batch size, both give the same numbers.
// The Fréchet distances (most of the time, with 1,024 features) run on a worker thread: `start`
// lets a trainer go on training meanwhile, and a service awaiting maybeEvaluate keeps its event
// loop (heartbeats) while they run.
import type { Logger } from '../telemetry/log.ts';
import type { EvalResult, ImageSampler } from './evaluate.ts';
import { openEvalSession, type EvalSession } from './session.ts';

export interface PeriodicEvalOptions {
  /** A classifier run or checkpoint; default: the newest classifier run under runsDir. */
  classifierDir?: string;
  runsDir?: string;
  /** Images per evaluation (default 1000). */
  samples?: number;
  /** Evaluate when iteration % every === 0; 0 turns evaluation off. */
  every: number;
  /** The run seed (z streams are derived from it). */
  seed?: number;
  batchSize?: number;
  log?: Logger;
}

export interface PeriodicEvaluator {
  /** False once evaluation is off (every = 0, or no classifier could be loaded). */
  readonly enabled: boolean;
  /** Scores `samples` images when `iteration` is due; undefined otherwise or when disabled. */
  maybeEvaluate(iteration: number, generator: ImageSampler): Promise<EvalResult | undefined>;
  /**
   * maybeEvaluate in two stages, for a trainer that goes on training meanwhile: resolves once the
   * images are drawn and classified (the generator may change from then on) with `scores`, which
   * settles when the Fréchet distances, computed on a worker thread, are done.
   */
  start(iteration: number, generator: ImageSampler): Promise<{ scores: Promise<EvalResult> } | undefined>;
  dispose(): void;
}

/** The metrics.jsonl record of one evaluation (run-directory contract). */
export function evalRecord(iteration: number, r: EvalResult): Record<string, unknown> {
  return {
    kind: 'eval', iteration, mnistScore: r.mnistScore, fdFeatures: r.fdFeatures ?? null, fdLogits: r.fdLogits ?? null,
    classesCovered: r.classesCovered, klUniform: r.klUniform, samples: r.samples, histogram: r.histogram,
  };
}

export function createPeriodicEvaluator(opts: PeriodicEvalOptions): PeriodicEvaluator {
  const samples = opts.samples ?? 1000;
  if (!Number.isInteger(opts.every) || opts.every < 0) throw new RangeError(`eval every: expected an integer >= 0, got ${opts.every}`);
  if (!Number.isInteger(samples) || samples < 2) throw new RangeError(`eval samples: expected an integer >= 2, got ${samples}`);
  let enabled = opts.every > 0;
  let session: Promise<EvalSession | undefined> | undefined;

  const open = (): Promise<EvalSession | undefined> =>
    openEvalSession({ classifierDir: opts.classifierDir, runsDir: opts.runsDir, batchSize: opts.batchSize, log: opts.log }).catch(
      (err: unknown) => {
        enabled = false;
        const level = opts.classifierDir ? 'error' : 'warn';
        opts.log?.[level]('periodic evaluation disabled: no usable classifier', { error: err });
        return undefined;
      },
    );

  const start: PeriodicEvaluator['start'] = async (iteration, generator) => {
    if (!enabled || iteration <= 0 || iteration % opts.every !== 0) return undefined;
    session ??= open();
    const s = await session;
    if (!s) return undefined;
    const t0 = performance.now();
    const scores = s.scoreSamplerOffThread(generator, samples, opts.seed ?? 0);
    const classifiedSeconds = (performance.now() - t0) / 1000;
    scores.then(() => opts.log?.debug('evaluation', { iteration, seconds: (performance.now() - t0) / 1000, classifiedSeconds }), () => undefined);
    return { scores };
  };

  return {
    get enabled() {
      return enabled;
    },
    start,
    async maybeEvaluate(iteration, generator) {
      const started = await start(iteration, generator);
      return started && (await started.scores);
    },
    dispose() {
      enabled = false;
      void session?.then((s) => s?.dispose());
    },
  };
}
