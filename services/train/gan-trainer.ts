// The in-process GAN trainer: the reference that the distributed run must match. Both networks
// live in this process and the loop calls the very functions the services call (GeneratorNode,
// DiscriminatorNode), in the order the scheduler sends them; only the G-step's exchange
// (generate, generatorGrad, applyUpstream) becomes one tape through both networks (applyObjective),
// the same gradient without G's forward pass twice.
import { tf } from '../core/tf.ts';
import { GeneratorNode } from '../core/gan/generator-node.ts';
import { DiscriminatorNode } from '../core/gan/discriminator-node.ts';
import { ganIteration } from '../core/gan/iteration.ts';
import { deriveSeed } from '../data/seed.ts';
import { loadImageSet } from '../data/mnist.ts';
import { createProgress } from '../run/progress.ts';
import type { Logger } from '../telemetry/log.ts';
import { ConfigError, toGanMathConfig, type GanTrainConfig } from './config.ts';
import { createPeriodicEvaluator, evalRecord } from '../eval/periodic.ts';
import { openRun } from './session.ts';

export interface GanTrainResult {
  runDir: string;
  iterations: number;
  lastCheckpoint?: string;
  status: 'completed' | 'stopped';
}

// The loop body lives with the nodes in the core; re-exported for the trainer's callers.
export { ganIteration, type IterationMetrics } from '../core/gan/iteration.ts';

export const SAMPLE_GRID = { n: 64, cols: 8 } as const;

/** The fixed-z 8x8 grid, (64, 28, 28) values in [-1, 1]. */
export function sampleGrid(g: GeneratorNode): Float32Array {
  const x = g.sample(SAMPLE_GRID.n, deriveSeed(g.cfg.seed, 'samples', 0));
  try {
    return Float32Array.from(x.dataSync() as Float32Array);
  } finally {
    x.dispose();
  }
}

export interface GanTrainOptions {
  /** Stops the run after the current iteration, with a final checkpoint, as Ctrl-C does (a time budget: AbortSignal.timeout). */
  signal?: AbortSignal;
}

export async function trainGanInProcess(cfg: GanTrainConfig, log: Logger, opts: GanTrainOptions = {}): Promise<GanTrainResult> {
  // Its one tape runs through G and D together; exact sums live in the discriminator service.
  if (cfg.microBatches !== undefined) throw new ConfigError('microBatches: exact sums are for distributed GAN runs (the discriminator service computes them); the in-process trainer takes none');
  // -- the run directory, backend and data --------------------------------------------------
  const session = await openRun('gan', cfg, log);
  session.watch(opts.signal);
  const data = await loadImageSet({ dir: cfg.data, split: 'train' });
  log.info('data loaded', { source: data.source, count: data.count });

  // -- models, optimizers, and where we start -----------------------------------------------
  const math = toGanMathConfig(cfg);
  const g = new GeneratorNode(math);
  const d = new DiscriminatorNode(math, data);
  const start = await session.restore((snaps, iteration) => {
    g.restore(snaps.get('generator')!, iteration - 1);
    d.restore(snaps.get('discriminator')!, { iteration: iteration - 1, step: math.dSteps - 1 });
  });
  const snapshots = () => [g.snapshot(), d.snapshot()];
  const evaluator = createPeriodicEvaluator({
    every: cfg.evalEvery, samples: cfg.evalSamples, classifierDir: cfg.classifier, seed: cfg.seed, log,
  });

  // -- the loop -------------------------------------------------------------------------------
  const progress = createProgress({ total: cfg.iterations, label: `gan ${cfg.preset}`, initial: start, logger: log });
  let t = start;
  // Evaluations whose distances are still being computed (on a worker thread) while training goes
  // on: their records land in iteration order as they are done, all of them before the run ends.
  let evaluations: Promise<void> = Promise.resolve();
  let evaluationError: unknown;
  const evaluationsDone = async (): Promise<void> => {
    await evaluations;
    if (evaluationError !== undefined) throw evaluationError;
  };
  try {
    const began = performance.now();
    for (; t < cfg.iterations; t++) {
      await session.yieldToEventLoop();
      if (evaluationError !== undefined) throw evaluationError;
      if (session.stopRequested) break;
      const m = ganIteration(g, d, t);
      const done = t + 1;
      const elapsed = (performance.now() - began) / 1000;
      session.metrics.append({
        kind: 'train', ...m, iteration: done,
        lrD: d.optimizer.learningRate(), lrG: g.optimizer.learningRate(),
        itPerSec: (done - start) / elapsed, elapsedSeconds: elapsed,
      });
      progress.update(done, { lossD: m.lossD, lossG: m.lossG, dReal: m.dReal, dFake: m.dFake });
      if (done % cfg.sampleEvery === 0 || done === cfg.iterations) await session.writeSamples(done, sampleGrid(g));
      if (done % cfg.checkpointEvery === 0) await session.checkpoint(done, snapshots());
      const started = await evaluator.start(done, g);
      if (started) {
        const { scores } = started;
        scores.catch(() => undefined); // handled in the chain below, maybe later
        evaluations = evaluations.then(() => scores).then((r) => {
          session.metrics.append(evalRecord(done, r));
          log.info('evaluation', { iteration: done, mnistScore: r.mnistScore, fdFeatures: r.fdFeatures, classesCovered: r.classesCovered });
        }).catch((err: unknown) => { evaluationError ??= err; });
      }
    }
    await evaluationsDone();
  } catch (err) {
    progress.stop();
    await evaluations;
    await session.fail(err, t);
    throw err;
  } finally {
    progress.stop();
    evaluator.dispose();
  }

  // -- the end: a final checkpoint (also on Ctrl-C) and the report -----------------------------
  const lastCheckpoint = await session.finalCheckpoint(t, snapshots);
  const status = t >= cfg.iterations ? 'completed' : 'stopped';
  await session.finish(status);
  g.dispose();
  d.dispose();
  return { runDir: session.run.root, iterations: t, lastCheckpoint, status };
}
