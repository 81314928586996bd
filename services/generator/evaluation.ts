// The generator's `eval` command: the run's periodic evaluator (services/eval/periodic.ts, built
// from the run config as the in-process trainer builds it) scores the served G. It outlives
// restores, so the classifier and its reference statistics load once per process; only a
// restore with another config replaces it.
import type { GeneratorNode } from '../core/gan/generator-node.ts';
import type { ReplyBody } from '../control/commands.ts';
import { ServiceError } from '../control/errors.ts';
import { createPeriodicEvaluator, type PeriodicEvaluator } from '../eval/periodic.ts';
import type { Logger } from '../telemetry/log.ts';
import type { GanTrainConfig } from '../train/config.ts';

export class Evaluation {
  private current: { hash: string; every: number; evaluator: PeriodicEvaluator } | undefined;

  constructor(private readonly log: Logger) {}

  configure(train: GanTrainConfig, hash: string): void {
    if (this.current?.hash === hash) return;
    this.current?.evaluator.dispose();
    const evaluator = createPeriodicEvaluator({
      every: train.evalEvery, samples: train.evalSamples, classifierDir: train.classifier, seed: train.seed, log: this.log,
    });
    this.current = { hash, every: train.evalEvery, evaluator };
  }

  /** Scores G after `iteration` iterations; scores null when evaluation is off. */
  async evaluate(iteration: number, node: GeneratorNode): Promise<ReplyBody<'eval'>> {
    if (!this.current) throw new ServiceError('not-ready', 'eval: the generator has no run configuration yet (no restore)');
    if (node.lastAppliedIteration !== iteration - 1) {
      throw new ServiceError('bad-request', `iteration: eval ${iteration} asked, but G has applied iterations up to ${node.lastAppliedIteration}`, { field: 'iteration' });
    }
    const { every, evaluator } = this.current;
    if (evaluator.enabled && iteration % every !== 0) {
      throw new ServiceError('bad-request', `iteration: ${iteration} is not a multiple of evalEvery (${every})`, { field: 'iteration' });
    }
    const t0 = performance.now();
    // Drawing and classifying the images is synchronous (no heartbeats meanwhile); the Fréchet
    // distances, most of the time, run on a worker thread while this process heartbeats.
    const scores = await evaluator.maybeEvaluate(iteration, node);
    const seconds = (performance.now() - t0) / 1000;
    if (scores) this.log.info('evaluation', { iteration, seconds: Number(seconds.toFixed(3)), mnistScore: scores.mnistScore, fdFeatures: scores.fdFeatures });
    return { iteration, scores: scores ?? null, seconds };
  }

  dispose(): void {
    this.current?.evaluator.dispose();
    this.current = undefined;
  }
}
