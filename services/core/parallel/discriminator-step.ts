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
import { ReplicaConfigError, ReplicaUnsupportedError } from './errors.ts';
import { microSlots, slotSum } from './micro-batches.ts';

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

/** Exact sums over this many micro-batches (micro-batches.ts); absent: one pass per batch. */
export interface ReplicaDOptions { microBatches?: number }

function context(group: ReplicaGroup, globalBatch: number, rows: number, opts: ReplicaDOptions): BnContext {
  if (opts.microBatches === undefined) return { group, sync: group.syncBatchNorm, globalRows: globalBatch, localRows: rows };
  if (!group.syncBatchNorm) throw new ReplicaConfigError('syncBatchNorm', 'true with microBatches (exact sums pool the batch-norm moments)', 'false');
  return { group, sync: true, globalRows: globalBatch, localRows: rows, micro: microSlots(group, globalBatch, opts.microBatches) };
}

/** A batch's rows as `count` micro-batches of equal rows (new tensors; the caller disposes them). */
function microBatchesOf(x: tf.Tensor4D, count: number): tf.Tensor4D[] {
  const rows = x.shape[0] / count;
  return Array.from({ length: count }, (_, i) => tf.slice(x, [i * rows, 0, 0, 0], [rows, -1, -1, -1]));
}

/** The group's fused sum: one float32 sum, or with exact sums the micro-batches' vectors slot-summed. */
function groupSum(ctx: BnContext, parts: Float32Array[], tag: string): Promise<Float32Array> {
  return ctx.micro ? slotSum(ctx.group, parts, ctx.micro, tag) : checkedSum(ctx.group, parts[0], tag);
}

const scalar = (t: tf.Tensor): number => t.dataSync()[0];

/** This rank's shares [L_D, D(x), D(G(z)), gp] before the group sum, per micro-batch (one without exact sums). */
interface LocalPart { extras: number[][]; pending: PendingStats[] }

/**
 * Segments with batch norm: real and fake in lockstep, chained VJPs, collectives at each batch
 * norm. With exact sums the passes are [real micro-batches, fake micro-batches], each pair's loss
 * share and gradients (grads[i]) kept apart per micro-batch.
 */
async function segmentedPart(d: ReplicaDiscriminator, real: tf.Tensor4D, fake: tf.Tensor4D, ctx: BnContext, grads: GradMap[]): Promise<LocalPart> {
  const count = ctx.micro?.count ?? 1;
  const reals = count === 1 ? [real] : microBatchesOf(real, count);
  const fakes = count === 1 ? [fake] : microBatchesOf(fake, count);
  const share = ctx.localRows / count / ctx.globalRows;
  try {
    const runs = await forwardChains(segmentsOf(d.model), [...reals, ...fakes], ctx, 'real+fake');
    try {
      // The real batch's moments (pooled over its micro-batches) go to the moving statistics.
      const pending = runs[0].caches.map((c) => ({ bn: c.bn, mean: c.mean, variance: c.variance }));
      const dOuts: tf.Tensor[] = [];
      const extras: number[][] = [];
      try {
        for (let i = 0; i < count; i++) {
          const [r, f] = [runs[i].out, runs[count + i].out]; // (rows, 1) each
          const { value, grads: [dR, dF] } = tf.engine().gradients(() => tf.mul(d.loss.discriminator(r, f), share) as tf.Scalar, [r, f]);
          dOuts[i] = dR;
          dOuts[count + i] = dF;
          const [dReal, dFake] = [r, f].map((t) => tf.tidy(() => scalar(tf.mul(meanOutput(d.loss, t), share))));
          extras.push([scalar(value), dReal, dFake, 0]);
          value.dispose();
        }
        // Pass j's gradients go to its micro-batch's map: real i and fake i both to grads[i].
        await backwardChains(runs, dOuts, ctx, [...grads, ...grads], false, 'real+fake');
      } finally {
        tf.dispose(dOuts);
      }
      return { extras, pending };
    } finally {
      for (const c of runs) c.dispose();
    }
  } finally {
    if (count > 1) tf.dispose([...reals, ...fakes]);
  }
}

/** WGAN-GP on a discriminator without batch norm (one segment): every row is independent, so this
 *  rank's share of L_D + gp (its rows of the global interpolation draw) comes from one local tape. */
async function penaltyPart(d: ReplicaDiscriminator, real: tf.Tensor4D, fake: tf.Tensor4D, ctx: BnContext, grads: GradMap,
  seed: number): Promise<LocalPart> {
  if (ctx.micro) throw new ReplicaUnsupportedError('loss', d.loss.name, 'exact sums (microBatches) do not take the gradient penalty: use another loss, or no microBatches');
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
  return { extras: [extras], pending: [] };
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
  opts: ReplicaDOptions = {},
): Promise<ReplicaDStepMetrics> {
  const rows = checkSlice(group, globalBatch, real.shape, d.model.inputShape, 'real');
  checkSlice(group, globalBatch, fake.shape, d.model.inputShape, 'fake');
  const ctx = context(group, globalBatch, rows, opts);
  const grads: GradMap[] = Array.from({ length: ctx.micro?.count ?? 1 }, () => new Map());
  const release = () => { for (const g of grads) tf.dispose([...g.values()]); };
  let local: LocalPart;
  try {
    local = d.loss.gradientPenalty
      ? await penaltyPart(d, real, fake, ctx, grads[0], deriveSeed(d.cfg.seed, 'gp', iteration, step))
      : await segmentedPart(d, real, fake, ctx, grads);
  } catch (err) {
    release();
    throw err;
  }
  // One collective: [grads (model.params order), L_D, D(x), D(G(z)), gp shares (, local moments)].
  let summed: Float32Array;
  try {
    const moments = ctx.sync ? [] : momentExtras(local.pending);
    summed = await groupSum(ctx, grads.map((g, i) => fuseGrads(d.model.params, g, [...local.extras[i], ...moments])), 'grads');
  } finally {
    release();
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
  opts: ReplicaDOptions = {},
): Promise<ReplicaGenGrad> {
  const rows = checkSlice(group, globalBatch, fake.shape, d.model.inputShape, 'fake');
  const segments = segmentsOf(d.model);
  const ctx = context(group, globalBatch, rows, opts);
  const count = ctx.micro?.count ?? 1;
  const fakes = count === 1 ? [fake] : microBatchesOf(fake, count);
  const share = rows / count / globalBatch;
  let grad: tf.Tensor4D;
  const extras: Float32Array[] = [];
  try {
    const runs = await forwardChains(segments, fakes, ctx, 'fake');
    try {
      const dFs = runs.map((run) => {
        const f = run.out; // (rows, 1)
        const { value, grads: [dF] } = tf.engine().gradients(() => tf.mul(d.loss.generator(f), share) as tf.Scalar, [f]);
        extras.push(Float32Array.of(scalar(value), tf.tidy(() => scalar(tf.mul(meanOutput(d.loss, f), share)))));
        value.dispose();
        return dF;
      });
      try {
        const inputs = (await backwardChains(runs, dFs, ctx, undefined, true, 'fake')) as tf.Tensor4D[];
        grad = inputs.length === 1 ? inputs[0] : tf.concat(inputs, 0);
        if (inputs.length > 1) tf.dispose(inputs);
      } finally {
        tf.dispose(dFs);
      }
    } finally {
      for (const run of runs) run.dispose();
    }
  } finally {
    if (count > 1) tf.dispose(fakes);
  }
  let sums: Float32Array;
  try {
    sums = await groupSum(ctx, extras, 'gen/metrics');
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
