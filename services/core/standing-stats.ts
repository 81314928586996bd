// Standing statistics (Brock et al. 2019, BigGAN, section 4.1): a generator samples in inference
// mode with its batch norms' moving averages, but those were gathered by the trained weights over
// the last few batches (momentum 0.9), not by the weights that sample: the moving average of G's
// weights (gEma) runs on statistics that belong to other weights. Re-estimating them for the
// sampling weights themselves, as the mean of the batch statistics over `batches` batches of
// latents from a fixed seed (drawn from G's prior), makes the samples a function of those weights alone.
import { tf } from './tf.ts';
import type { ForwardMode, Model } from './model.ts';
import { deriveSeed } from '../data/seed.ts';
import { latentPriorOf, sampleLatents } from './latents.ts';

export interface StandingOptions {
  /** Batches the statistics are averaged over (> 0). */
  batches: number;
  /** Latents per batch: the training batch size, whose statistics the moving averages stand for. */
  batchSize: number;
  /** Run seed; batch i draws its latents from deriveSeed(seed, 'standing', i). */
  seed: number;
}

/** Overwrites every batch norm's moving mean and variance of `model` (a generator) in place. */
export function standingStatistics(model: Model, opts: StandingOptions): void {
  if (!Number.isInteger(opts.batches) || opts.batches < 1) throw new RangeError(`standing statistics: batches must be a positive integer, got ${opts.batches}`);
  const sums = new Map<tf.Variable, tf.Tensor>();
  const add = (target: tf.Variable, value: tf.Tensor): void => {
    const prev = sums.get(target);
    sums.set(target, tf.keep(prev ? tf.add(prev, value) : tf.clone(value)));
    prev?.dispose();
  };
  const prior = latentPriorOf(model);
  const mode: ForwardMode = {
    training: true, updateStats: false,
    observeStats: (moving, mean, variance) => { add(moving.mean, mean); add(moving.variance, variance); },
  };
  for (let i = 0; i < opts.batches; i++) {
    tf.tidy(() => {
      const z = sampleLatents(opts.batchSize, prior, deriveSeed(opts.seed, 'standing', i));
      model.apply(z, mode);
    });
  }
  for (const [variable, sum] of sums) {
    tf.tidy(() => variable.assign(tf.div(sum, opts.batches)));
    sum.dispose();
  }
}
