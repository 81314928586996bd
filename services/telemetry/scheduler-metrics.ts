// The scheduler's own metrics, on top of createMetrics('scheduler'): the run-level view
// (iteration rate, throughput, pause state, membership generation, evaluation scores). Only the
// scheduler sets them, so only its /metrics page declares them: a generator page never shows a
// run gauge stuck at 0.
import { Counter, Gauge } from 'prom-client';
import { createMetrics, type Metrics } from './metrics.ts';

export const EVAL_METRICS = ['mnist_score', 'fd_features', 'fd_logits', 'classes_covered'] as const;

export interface SchedulerMetrics extends Metrics {
  /** Iterations completed; rate() is the iteration rate (a re-run after a recovery counts again). */
  readonly iterations: Counter;
  /** Real images D consumes per second, over the current generation. */
  readonly imagesPerSecond: Gauge;
  /** 1 while the run is paused between iterations, else 0 (a paused run is not stalled). */
  readonly runPaused: Gauge;
  /** The membership generation formed last. */
  readonly generation: Gauge;
  /** labels: metric (EVAL_METRICS). */
  readonly evalScore: Gauge<'metric'>;
}

export function createSchedulerMetrics(): SchedulerMetrics {
  const base = createMetrics('scheduler');
  const registers = [base.registry];
  return {
    ...base,
    iterations: new Counter({ name: 'gantry_iterations_total', help: 'Iterations completed.', registers }),
    imagesPerSecond: new Gauge({ name: 'gantry_images_per_second', help: 'Training throughput in images per second.', registers }),
    runPaused: new Gauge({ name: 'gantry_run_paused', help: '1 while the run is paused between iterations, else 0.', registers }),
    generation: new Gauge({ name: 'gantry_generation', help: 'Membership generation formed last.', registers }),
    evalScore: new Gauge({ name: 'gantry_eval_score', help: 'Latest evaluation score.', labelNames: ['metric'], registers }),
  };
}
