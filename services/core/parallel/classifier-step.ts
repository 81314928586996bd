// The classifier's data-parallel step: N replicas, each with the same weights and Adam state, each
// on its slice of a global batch, train exactly as one process on the whole batch (within float32
// round-off) when batch norm is synchronised.
//   1. forward through the segments; each batch norm normalises with the group's moments
//   2. this rank's share of the global mean loss, sum_i CE_i / B, and its gradient dL/dlogits
//   3. backward through the segments (chained VJPs; group sums at each batch norm)
//   4. ONE fused buffer [grads in model.params order, loss share, correct count (, local moments)]
//      summed over the group ("grads")
//   5. finiteness checked on the summed buffer (every rank decides alike), then moving statistics
//      and the Adam update, the same on every rank
import { tf } from '../tf.ts';
import type { ClassifierModel } from '../model.ts';
import type { Adam } from '../optim.ts';
import { NonFiniteError } from '../errors.ts';
import { checkSlice, checkedSum, type ReplicaGroup } from './group.ts';
import { backwardChains, forwardChains, segmentsOf, type GradMap } from './chain.ts';
import { applyStats, averagedStats, firstNonFinite, fuseGrads, momentExtras, splitGrads, type PendingStats } from './fused.ts';
import { microSlots, slotSum } from './micro-batches.ts';
import type { BnContext } from './sync-bn.ts';
import { ReplicaConfigError } from './errors.ts';

export interface ReplicaClassifierResult {
  /** The global batch's mean loss (what classifierStep reports for the whole batch). */
  loss: number;
  /** Correct predictions over the global batch / globalBatch. */
  accuracy: number;
  /** Correct predictions over the global batch. */
  correct: number;
}

/** The group-summed gradients of one step, before anything is updated. */
export interface ReplicaClassifierGrads {
  /** The global batch's mean loss and correct count (identical on every rank). */
  loss: number;
  correct: number;
  /** dL/dparam for the global mean loss, in model.params order, identical on every rank. Caller disposes. */
  grads: tf.Tensor[];
  /** A non-finite gradient element, if any (NaN or Inf), else undefined. */
  nonFiniteGrad?: number;
  /** Moments for the moving statistics, to be folded in only if the step is applied. */
  stats: PendingStats[];
}

export interface ReplicaStepOptions {
  /** Exact sums over this many micro-batches of the global batch (micro-batches.ts): the same
   *  bits for any group size dividing it. Absent: one pass per rank, float32 sums over the group. */
  microBatches?: number;
}

/** sum_i CE_i / B over these rows (the ops of the one process's mean: sum, then divide by the
 *  global count B), its gradient dL/dlogits (caller disposes) and [that loss share, correct count]. */
function lossShare(logits: tf.Tensor, labels: tf.Tensor1D, globalBatch: number): { dLogits: tf.Tensor; extras: [number, number] } {
  const { value, grads: [dLogits] } = tf.engine().gradients(() => {
    const perSample = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, logits.shape[1] as number), logits, undefined, 0, tf.Reduction.NONE);
    return tf.div(tf.sum(perSample), tf.scalar(globalBatch)) as tf.Scalar;
  }, [logits]);
  const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')));
  const extras: [number, number] = [value.dataSync()[0], correct.dataSync()[0]];
  tf.dispose([value, correct]);
  return { dLogits, extras };
}

/** Steps (1)-(4): this rank's forward and backward pass, and the one fused sum over the group. */
export async function replicaClassifierGrads(
  model: ClassifierModel,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  group: ReplicaGroup,
  globalBatch: number,
  opts: ReplicaStepOptions = {},
): Promise<ReplicaClassifierGrads> {
  const rows = checkSlice(group, globalBatch, x.shape, model.inputShape, 'x');
  if (labels.shape[0] !== rows) throw new ReplicaConfigError('labels.shape[0]', `x's rows (${rows})`, labels.shape[0]);
  if (opts.microBatches !== undefined) return microBatchGrads(model, x, labels, group, globalBatch, opts.microBatches);
  const segments = segmentsOf(model);
  const ctx: BnContext = { group, sync: group.syncBatchNorm, globalRows: globalBatch, localRows: rows };
  const grads: GradMap = new Map();
  let extras: number[];
  let pending: PendingStats[];
  // (1)-(3): the forward and backward passes, holding this rank's gradients in `grads`.
  const [run] = await forwardChains(segments, [x], ctx, 'x');
  try {
    pending = run.caches.map((c) => ({ bn: c.bn, mean: c.mean, variance: c.variance }));
    const share = lossShare(run.out, labels, globalBatch); // run.out: (b, 10) logits
    const dLogits = share.dLogits;
    extras = share.extras;
    try {
      await backwardChains([run], [dLogits], ctx, grads, false, 'x');
    } finally {
      dLogits.dispose();
    }
  } catch (err) {
    tf.dispose([...grads.values()]);
    throw err;
  } finally {
    run.dispose();
  }
  // (4) one collective for the step.
  let summed: Float32Array;
  try {
    const fused = fuseGrads(model.params, grads, [...extras, ...(ctx.sync ? [] : momentExtras(pending))]);
    summed = await checkedSum(group, fused, 'grads');
  } finally {
    tf.dispose([...grads.values()]);
  }
  return fromSummed(model, summed, ctx.sync ? () => pending : (tail) => averagedStats(pending, tail.subarray(2), group.size));
}

/** The summed buffer as gradients (params order), the loss and correct count, and the moments. */
function fromSummed(model: ClassifierModel, summed: Float32Array, stats: (tail: Float32Array) => PendingStats[]): ReplicaClassifierGrads {
  const { grads, extras: tail } = splitGrads(model.params, summed);
  const bad = firstNonFinite(summed, summed.length - tail.length);
  return { loss: tail[0], correct: tail[1], grads, ...(bad >= 0 ? { nonFiniteGrad: summed[bad] } : {}), stats: stats(tail) };
}

/**
 * Exact sums (micro-batches.ts): this rank's rows as its M/N micro-batches, run as passes in
 * lockstep (batch norm pools every micro-batch of the global batch), each micro-batch's gradients
 * and loss share kept apart and fused into its own vector, and the vectors slot-summed.
 */
async function microBatchGrads(
  model: ClassifierModel, x: tf.Tensor4D, labels: tf.Tensor1D, group: ReplicaGroup, globalBatch: number, microBatches: number,
): Promise<ReplicaClassifierGrads> {
  if (!group.syncBatchNorm) throw new ReplicaConfigError('syncBatchNorm', 'true with microBatches (exact sums pool the batch-norm moments)', 'false');
  const slots = microSlots(group, globalBatch, microBatches);
  const rows = globalBatch / microBatches;
  const segments = segmentsOf(model);
  const ctx: BnContext = { group, sync: true, globalRows: globalBatch, localRows: x.shape[0], micro: slots };
  const xs = Array.from({ length: slots.count }, (_, i) => tf.slice(x, [i * rows, 0, 0, 0], [rows, -1, -1, -1]));
  const ls = Array.from({ length: slots.count }, (_, i) => tf.slice(labels, [i * rows], [rows]));
  const grads: GradMap[] = xs.map(() => new Map());
  let parts: Float32Array[];
  let pending: PendingStats[];
  try {
    const runs = await forwardChains(segments, xs, ctx, 'x');
    try {
      // Pooled batch norm: every pass normalised with the same (global) moments.
      pending = runs[0].caches.map((c) => ({ bn: c.bn, mean: c.mean, variance: c.variance }));
      const shares = runs.map((run, i) => lossShare(run.out, ls[i], globalBatch));
      try {
        await backwardChains(runs, shares.map((sh) => sh.dLogits), ctx, grads, false, 'x');
      } finally {
        tf.dispose(shares.map((sh) => sh.dLogits));
      }
      parts = grads.map((g, i) => fuseGrads(model.params, g, shares[i].extras));
    } finally {
      for (const run of runs) run.dispose();
    }
  } finally {
    tf.dispose([...xs, ...ls]);
    for (const g of grads) tf.dispose([...g.values()]);
  }
  return fromSummed(model, await slotSum(group, parts, slots, 'grads'), () => pending);
}

/** One data-parallel classifier step on this rank's slice (x: (B/N, 28, 28, 1), labels (B/N,)) of a
 *  global batch of `globalBatch`: forward with group batch-norm moments, backward by chained VJPs, ONE
 *  fused gradient buffer (model.params order) summed over the group, then the same Adam update on every
 *  rank. Returns the global mean loss and global correct count. Throws NonFiniteError without updating
 *  (neither the weights, nor Adam, nor the moving statistics). */
export async function replicaClassifierStep(
  model: ClassifierModel,
  optimizer: Adam,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  group: ReplicaGroup,
  globalBatch: number,
  step: number,
  opts: ReplicaStepOptions = {},
): Promise<ReplicaClassifierResult> {
  const r = await replicaClassifierGrads(model, x, labels, group, globalBatch, opts);
  // (5) decide on the summed values (identical on every rank), then update.
  try {
    if (!Number.isFinite(r.loss)) throw new NonFiniteError('classifier loss', step, r.loss);
    if (r.nonFiniteGrad !== undefined) throw new NonFiniteError('classifier gradient', step, r.nonFiniteGrad);
    applyStats(r.stats);
    optimizer.apply(r.grads);
    return { loss: r.loss, correct: r.correct, accuracy: r.correct / globalBatch };
  } finally {
    tf.dispose(r.grads);
  }
}
