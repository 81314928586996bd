// The discriminator as N data-parallel replicas (gantry train gan --discriminator-replicas N):
// each replica holds its slice of the real and of the fake batch (rows [rank b, (rank + 1) b) of
// each, b = B / N). Batch norm uses the group's statistics, separately for the real and the fake
// pass, exactly as the one-process D-step normalises D(x) and D(G(z)) each with its own batch.
//
// (1) D-step, minimise L_D(D(x), D(G(z))):
//   forward real (group moments, folded into the moving statistics once the step is good) and fake
//   (group moments, no statistics) in lockstep, one collective per batch-norm sum for both; this rank's share of L_D = L_D(slice) * b / B (every loss
//   term is a mean over rows, and real and fake slices have the same b rows); backward both chains;
//   ONE fused sum [grads (model.params order), L_D share, D(x) share, D(G(z)) share (, moments)].
// (2) G-step's dL_G/dG(z'): forward fake with group moments (TRAIN_NO_STATS), this rank's share of
//   L_G, backward to the input: this rank's rows of dL_G/dfake (the slices, concatenated in rank
//   order, are the one-process gradient); one small sum [L_G share, D(G(z')) share] ("gen/metrics").
// WGAN-GP is refused: its penalty differentiates D's input gradient again, i.e. a second-order
// gradient through batch statistics that a backward pass with collectives between tapes cannot
// take (and the mlp discriminator, which has no batch norm, is not special-cased).
import { tf } from '../tf.ts';
import type { Model } from '../model.ts';
import type { Adam } from '../optim.ts';
import { meanOutput, type GanLoss } from '../losses.ts';
import { NonFiniteError } from '../errors.ts';
import { checkSlice, checkedSum, type ReplicaGroup } from './group.ts';
import { backwardChains, forwardChains, segmentsOf, type ChainRun, type GradMap } from './chain.ts';
import { applyStats, averagedStats, firstNonFinite, fuseGrads, momentExtras, splitGrads, type PendingStats } from './fused.ts';
import type { BnContext } from './sync-bn.ts';
import { ReplicaUnsupportedError } from './errors.ts';

/** What a replica step needs of a discriminator; a DiscriminatorNode is one. */
export interface ReplicaDiscriminator {
  readonly model: Model;
  readonly optimizer: Adam;
  readonly loss: GanLoss;
}

export interface ReplicaDStepMetrics { lossD: number; dReal: number; dFake: number }
export interface ReplicaGenGrad { lossG: number; dFake: number; /** this rank's rows of dL_G/dfake (b, 28, 28, 1); caller disposes */ grad: tf.Tensor4D }

function refuseGradientPenalty(loss: GanLoss): void {
  if (loss.gradientPenalty) {
    throw new ReplicaUnsupportedError('loss', loss.name,
      'the gradient penalty is a second-order gradient through the batch-norm statistics, which replicas cannot chain across collectives; use one discriminator (no --discriminator-replicas) or another loss');
  }
}

function context(group: ReplicaGroup, globalBatch: number, rows: number): BnContext {
  return { group, sync: group.syncBatchNorm, globalRows: globalBatch, localRows: rows };
}

const scalar = (t: tf.Tensor): number => t.dataSync()[0];

/** (1) One data-parallel D-step on this rank's slices real, fake (b, 28, 28, 1); the same update on
 *  every rank. Throws NonFiniteError (nothing updated) when L_D or a gradient is NaN or Inf. */
export async function replicaDiscriminatorStep(
  d: ReplicaDiscriminator,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  group: ReplicaGroup,
  globalBatch: number,
  iteration: number,
): Promise<ReplicaDStepMetrics> {
  refuseGradientPenalty(d.loss);
  const rows = checkSlice(group, globalBatch, real.shape, d.model.inputShape, 'real');
  checkSlice(group, globalBatch, fake.shape, d.model.inputShape, 'fake');
  const segments = segmentsOf(d.model);
  const ctx = context(group, globalBatch, rows);
  const share = rows / globalBatch;
  const grads: GradMap = new Map();
  let extras: number[];
  let pending: PendingStats[];
  const runs: ChainRun[] = [];
  try {
    // Real and fake in lockstep, each with its own batch statistics: one collective per sum for both.
    runs.push(...await forwardChains(segments, [real, fake], ctx, 'real+fake'));
    const [r, f] = runs.map((c) => c.out); // (b, 1) each
    pending = runs[0].caches.map((c) => ({ bn: c.bn, mean: c.mean, variance: c.variance }));
    const { value, grads: [dR, dF] } = tf.engine().gradients(() => tf.mul(d.loss.discriminator(r, f), share) as tf.Scalar, [r, f]);
    const [dReal, dFake] = [r, f].map((t) => tf.tidy(() => scalar(tf.mul(meanOutput(d.loss, t), share))));
    extras = [scalar(value), dReal, dFake];
    value.dispose();
    try {
      await backwardChains(runs, [dR, dF], ctx, grads, false, 'real+fake');
    } finally {
      tf.dispose([dR, dF]);
    }
  } catch (err) {
    tf.dispose([...grads.values()]);
    throw err;
  } finally {
    for (const c of runs) c.dispose();
  }
  let summed: Float32Array;
  try {
    summed = await checkedSum(group, fuseGrads(d.model.params, grads, [...extras, ...(ctx.sync ? [] : momentExtras(pending))]), 'grads');
  } finally {
    tf.dispose([...grads.values()]);
  }
  const { grads: update, extras: tail } = splitGrads(d.model.params, summed);
  try {
    const [lossD, dReal, dFake] = tail;
    if (!Number.isFinite(lossD)) throw new NonFiniteError('discriminator loss', iteration, lossD);
    const bad = firstNonFinite(summed, summed.length - tail.length);
    if (bad >= 0) throw new NonFiniteError('discriminator gradient', iteration, summed[bad]);
    applyStats(ctx.sync ? pending : averagedStats(pending, tail.subarray(3), group.size));
    d.optimizer.apply(update);
    return { lossD, dReal, dFake };
  } finally {
    tf.dispose(update);
  }
}

/** (2) For the G-step: L_G, D's mean output on fake, and this rank's rows of dL_G/dfake, with D held
 *  fixed (no update, no statistics). fake: this rank's slice (b, 28, 28, 1). */
export async function replicaGeneratorGrad(
  d: Pick<ReplicaDiscriminator, 'model' | 'loss'>,
  fake: tf.Tensor4D,
  group: ReplicaGroup,
  globalBatch: number,
  iteration: number,
): Promise<ReplicaGenGrad> {
  const rows = checkSlice(group, globalBatch, fake.shape, d.model.inputShape, 'fake');
  const segments = segmentsOf(d.model);
  const ctx = context(group, globalBatch, rows);
  const share = rows / globalBatch;
  const [run] = await forwardChains(segments, [fake], ctx, 'fake');
  let grad: tf.Tensor4D;
  let extras: Float32Array;
  try {
    const f = run.out; // (b, 1)
    const { value, grads: [dF] } = tf.engine().gradients(() => tf.mul(d.loss.generator(f), share) as tf.Scalar, [f]);
    extras = Float32Array.of(scalar(value), tf.tidy(() => scalar(tf.mul(meanOutput(d.loss, f), share))));
    value.dispose();
    try {
      [grad] = (await backwardChains([run], [dF], ctx, undefined, true, 'fake')) as tf.Tensor4D[];
    } finally {
      dF.dispose();
    }
  } finally {
    run.dispose();
  }
  let sums: Float32Array;
  try {
    sums = await checkedSum(group, extras, 'gen/metrics');
  } catch (err) {
    grad.dispose();
    throw err;
  }
  const [lossG, dFake] = sums;
  if (!Number.isFinite(lossG)) {
    grad.dispose();
    throw new NonFiniteError('generator loss', iteration, lossG);
  }
  return { lossG, dFake, grad };
}
