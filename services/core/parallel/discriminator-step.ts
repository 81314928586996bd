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
// WGAN-GP: on a discriminator with batch norm it is refused (ReplicaUnsupportedError): the penalty
// differentiates D's input gradient again, a second-order gradient through the batch statistics,
// which a backward pass with collectives between tapes cannot take. The mlp discriminator has no
// batch norm, so its rows are independent: one local tape gives this rank's share of L_D + gp, with
// the interpolation weights e taken from this rank's rows of the global batch's draw.
import { tf } from '../tf.ts';
import type { Model } from '../model.ts';
import type { Adam } from '../optim.ts';
import { gradientPenalty, meanOutput, type GanLoss } from '../losses.ts';
import { deriveSeed } from '../../data/seed.ts';
import type { GanMathConfig } from '../gan/config.ts';
import { NonFiniteError } from '../errors.ts';
import { checkSlice, checkedSum, type ReplicaGroup } from './group.ts';
import { backwardChains, forwardChains, segmentsOf, type GradMap } from './chain.ts';
import { applyStats, averagedStats, firstNonFinite, fuseGrads, momentExtras, splitGrads, type PendingStats } from './fused.ts';
import type { BnContext } from './sync-bn.ts';
import { ReplicaUnsupportedError } from './errors.ts';

/** What a replica step needs of a discriminator; a DiscriminatorNode is one. */
export interface ReplicaDiscriminator {
  readonly model: Model;
  readonly optimizer: Adam;
  readonly loss: GanLoss;
  /** The run seed and WGAN-GP's lambda (the penalty's interpolation draws derive from the seed). */
  readonly cfg: Pick<GanMathConfig, 'seed' | 'gpLambda'>;
}

export interface ReplicaDStepMetrics { lossD: number; dReal: number; dFake: number; /** wgan-gp only */ gp?: number }
export interface ReplicaGenGrad { lossG: number; dFake: number; /** this rank's rows of dL_G/dfake (b, 28, 28, 1); caller disposes */ grad: tf.Tensor4D }

function context(group: ReplicaGroup, globalBatch: number, rows: number): BnContext {
  return { group, sync: group.syncBatchNorm, globalRows: globalBatch, localRows: rows };
}

const scalar = (t: tf.Tensor): number => t.dataSync()[0];

/** This rank's gradients and its shares [L_D, D(x), D(G(z)), gp] before the group sum. */
interface LocalPart { extras: number[]; pending: PendingStats[] }

/** Segments with batch norm: real and fake in lockstep, chained VJPs, collectives at each batch norm. */
async function segmentedPart(d: ReplicaDiscriminator, real: tf.Tensor4D, fake: tf.Tensor4D, ctx: BnContext, grads: GradMap): Promise<LocalPart> {
  const share = ctx.localRows / ctx.globalRows;
  const runs = await forwardChains(segmentsOf(d.model), [real, fake], ctx, 'real+fake');
  try {
    const [r, f] = runs.map((c) => c.out); // (b, 1) each
    const pending = runs[0].caches.map((c) => ({ bn: c.bn, mean: c.mean, variance: c.variance }));
    const { value, grads: [dR, dF] } = tf.engine().gradients(() => tf.mul(d.loss.discriminator(r, f), share) as tf.Scalar, [r, f]);
    const [dReal, dFake] = [r, f].map((t) => tf.tidy(() => scalar(tf.mul(meanOutput(d.loss, t), share))));
    const extras = [scalar(value), dReal, dFake, 0];
    value.dispose();
    try {
      await backwardChains(runs, [dR, dF], ctx, grads, false, 'real+fake');
    } finally {
      tf.dispose([dR, dF]);
    }
    return { extras, pending };
  } finally {
    for (const c of runs) c.dispose();
  }
}

/** WGAN-GP on a discriminator without batch norm (one segment): every row is independent, so this
 *  rank's share of L_D + gp (its rows of the global interpolation draw) comes from one local tape. */
async function penaltyPart(d: ReplicaDiscriminator, real: tf.Tensor4D, fake: tf.Tensor4D, ctx: BnContext, grads: GradMap,
  seed: number): Promise<LocalPart> {
  const segments = segmentsOf(d.model);
  if (segments.length !== 1) {
    throw new ReplicaUnsupportedError('loss', d.loss.name,
      'its gradient penalty is a second-order gradient through the batch-norm statistics, which replicas cannot chain across collectives; use one discriminator (no --discriminator-replicas), the mlp preset, or another loss');
  }
  const seg = segments[0];
  const share = ctx.localRows / ctx.globalRows;
  const vars = d.model.params.map((p) => p.variable);
  let parts: tf.Scalar[] = [];
  const { value, grads: g } = tf.engine().gradients(() => {
    const r = seg.apply(real); // (b, 1)
    const f = seg.apply(fake); // (b, 1)
    const gp = gradientPenalty((x) => seg.apply(x), real, fake, d.cfg.gpLambda, seed, { start: ctx.group.rank * ctx.localRows, globalBatch: ctx.globalRows });
    parts = [tf.mul(meanOutput(d.loss, r), share), tf.mul(meanOutput(d.loss, f), share), gp].map((t) => tf.keep(t as tf.Scalar));
    return tf.add(tf.mul(d.loss.discriminator(r, f), share), gp) as tf.Scalar;
  }, vars);
  vars.forEach((v, i) => grads.set(v, g[i]));
  const extras = [value, ...parts].map(scalar);
  tf.dispose([value, ...parts]);
  return { extras, pending: [] };
}

/** (1) One data-parallel D-step (D-step `step` of iteration `iteration`) on this rank's slices real,
 *  fake (b, 28, 28, 1); the same update on every rank. Throws NonFiniteError (nothing updated) when
 *  L_D or a gradient is NaN or Inf; ReplicaUnsupportedError for wgan-gp on a D with batch norm. */
export async function replicaDiscriminatorStep(
  d: ReplicaDiscriminator,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  group: ReplicaGroup,
  globalBatch: number,
  iteration: number,
  step = 0,
): Promise<ReplicaDStepMetrics> {
  const rows = checkSlice(group, globalBatch, real.shape, d.model.inputShape, 'real');
  checkSlice(group, globalBatch, fake.shape, d.model.inputShape, 'fake');
  const ctx = context(group, globalBatch, rows);
  const grads: GradMap = new Map();
  let local: LocalPart;
  try {
    local = d.loss.gradientPenalty
      ? await penaltyPart(d, real, fake, ctx, grads, deriveSeed(d.cfg.seed, 'gp', iteration, step))
      : await segmentedPart(d, real, fake, ctx, grads);
  } catch (err) {
    tf.dispose([...grads.values()]);
    throw err;
  }
  // One collective: [grads (model.params order), L_D, D(x), D(G(z)), gp shares (, local moments)].
  let summed: Float32Array;
  try {
    const extras = [...local.extras, ...(ctx.sync ? [] : momentExtras(local.pending))];
    summed = await checkedSum(group, fuseGrads(d.model.params, grads, extras), 'grads');
  } finally {
    tf.dispose([...grads.values()]);
  }
  const { grads: update, extras: tail } = splitGrads(d.model.params, summed);
  try {
    const [lossD, dReal, dFake, gp] = tail;
    if (!Number.isFinite(lossD)) throw new NonFiniteError('discriminator loss', iteration, lossD);
    const bad = firstNonFinite(summed, summed.length - tail.length);
    if (bad >= 0) throw new NonFiniteError('discriminator gradient', iteration, summed[bad]);
    applyStats(ctx.sync ? local.pending : averagedStats(local.pending, tail.subarray(4), group.size));
    d.optimizer.apply(update);
    return { lossD, dReal, dFake, ...(d.loss.gradientPenalty ? { gp } : {}) };
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
