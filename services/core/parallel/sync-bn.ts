// Batch norm across a replica group (as PyTorch's SyncBatchNorm), one layer at a time, outside any
// gradient tape: the forward pass normalises with the group's moments, the backward pass is the
// closed form of batch norm's gradient with the group's sums. Shapes: x (b, ..., C) is this
// rank's slice of a global batch of B rows; moments are per channel over every other axis, with
// count M = B * (elements per row per channel).
//
// Forward (two sums, as tf.moments computes mean first, then the variance about it; the one-pass
// E[x^2] - mean^2 form would save a collective but cancels in float32. Measured on the quick
// classifier's bn2 input, batch 24 over 2 replicas, variance vs float64: tf.moments 5e-8 .. 7e-8,
// two-pass group 1.0e-7 .. 1.2e-7, one-pass group 4.9e-7 (mean/std 0), 1.1e-6 (1), 4.0e-5 (10)):
//   mean = sum_group(sum x) / M                       "<tag>/sum"    (C,)
//   var  = sum_group(sum (x - mean)^2) / M            "<tag>/sumsq"  (C,)   (biased, as tf.moments)
//   x_hat = (x - mean) rsqrt(var + eps);  y = gamma x_hat + beta   (the ops of layers.ts batchNorm)
// Backward, given dy = dL/dy (b, ..., C):
//   [S1, S2] = sum_group([sum dy, sum dy x_hat])      "<tag>/grad"   (2C,)
//   dx = gamma rsqrt(var + eps) (dy - S1 / M - x_hat S2 / M)
//   dgamma, dbeta = this rank's sum dy x_hat, sum dy (the fused gradient sum adds the ranks' parts)
// With sync false every sum stays local and M counts this rank's rows only.
// Several passes through the same batch norm (the D-step's real and fake batches, each normalised
// with its own statistics) go in lockstep: their vectors are concatenated into one collective per
// sum, [pass 0 (C,), pass 1 (C,), ...], which halves the number of collective rounds.
// With `micro` (exact sums, micro-batches.ts) the passes are instead the micro-batches of one
// batch, or of several batches pooled apart ([real micro-batches, fake micro-batches]): every sum
// is taken per micro-batch and pooled over all of its batch's micro-batches in slot order
// (slotSum), and every pass uses its batch's pooled result.
import { tf } from '../tf.ts';
import { BN_EPSILON, type BatchNorm } from '../layers.ts';
import { checkedSum, type ReplicaGroup } from './group.ts';
import { type MicroSlots, slotSum } from './micro-batches.ts';

export interface BnContext {
  group: ReplicaGroup;
  /** Normalise with the group's moments (true) or this rank's own (false). */
  sync: boolean;
  /** Rows of the global batch (B) and of this rank's slice (b), the same for every pass. */
  globalRows: number;
  localRows: number;
  /** Exact sums: the passes are this rank's micro-batches of one batch (requires sync). */
  micro?: MicroSlots;
}

/** What one batch norm's backward pass needs from its forward pass, per pass. Owns xhat and rstd. */
export interface BnCache {
  bn: BatchNorm;
  /** (b, ..., C) */
  xhat: tf.Tensor;
  /** rsqrt(var + eps), (C,) */
  rstd: tf.Tensor1D;
  count: number;
  /** The moments used (the group's when synchronised), (C,) each: the moving statistics' input. */
  mean: Float32Array;
  variance: Float32Array;
}

const reduceAxes = (x: tf.Tensor): number[] => x.shape.slice(0, -1).map((_, i) => i);

/** Each pass's local vector, summed over the group in ONE call when synchronised: [p0, p1, ...]. */
async function reduce(ctx: BnContext, locals: Float32Array[], tag: string): Promise<Float32Array[]> {
  if (ctx.micro) {
    // Passes [pool 0's micro-batches, pool 1's, ...] (the D-step: real, then fake): slot i carries
    // micro-batch i of every pool, and each pool is pooled on its own.
    const count = ctx.micro.count;
    const pools = locals.length / count;
    const parts = Array.from({ length: count }, (_, i) => concat(Array.from({ length: pools }, (_, p) => locals[p * count + i])));
    const pooled = await slotSum(ctx.group, parts, ctx.micro, tag);
    const width = locals[0].length;
    return locals.map((_, j) => pooled.subarray(Math.floor(j / count) * width, (Math.floor(j / count) + 1) * width));
  }
  if (!ctx.sync) return locals;
  const sum = await checkedSum(ctx.group, concat(locals), tag);
  let off = 0;
  return locals.map((l) => { const part = sum.subarray(off, off + l.length); off += l.length; return part; });
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** Copies a tensor's values into a Float32Array this code owns, and disposes the tensor. */
function take(t: tf.Tensor): Float32Array {
  const out = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

/** Per pass: z (b, ..., C) before the batch norm -> y (b, ..., C) normalised with the (group's) batch moments. */
export async function bnForward(zs: readonly tf.Tensor[], bn: BatchNorm, ctx: BnContext, tag: string): Promise<{ ys: tf.Tensor[]; caches: BnCache[] }> {
  const counts = zs.map((z) => (ctx.sync ? ctx.globalRows : ctx.localRows) * (z.size / (z.shape[0] * z.shape[z.shape.length - 1])));
  // Float32Array.from rounds the float64 quotient once: the float32 division tf.mean performs.
  const sums = await reduce(ctx, zs.map((z) => take(tf.sum(z, reduceAxes(z)))), `${tag}/sum`);
  const means = sums.map((s, i) => Float32Array.from(s, (v) => v / counts[i]));
  const sumsqs = await reduce(ctx, zs.map((z, i) => take(tf.tidy(() => tf.sum(tf.square(tf.sub(z, tf.tensor1d(means[i]))), reduceAxes(z))))), `${tag}/sumsq`);
  const variances = sumsqs.map((s, i) => Float32Array.from(s, (v) => v / counts[i]));
  const ys: tf.Tensor[] = [];
  const caches = zs.map((z, i) => {
    const [xhat, rstd, y] = tf.tidy(() => {
      const rs = tf.rsqrt(tf.add(tf.tensor1d(variances[i]), BN_EPSILON)) as tf.Tensor1D;
      const xh = tf.mul(tf.sub(z, tf.tensor1d(means[i])), rs);
      return [xh, rs, tf.add(tf.mul(xh, bn.gamma), bn.beta)];
    });
    ys.push(y);
    return { bn, xhat, rstd: rstd as tf.Tensor1D, count: counts[i], mean: means[i], variance: variances[i] };
  });
  return { ys, caches };
}

/** Per pass: dy (b, ..., C) = dL/dy -> dL/dz (b, ..., C) and this rank's share of dL/dgamma, dL/dbeta (C,). */
export async function bnBackward(dys: readonly tf.Tensor[], caches: readonly BnCache[], ctx: BnContext, tag: string): Promise<{ dz: tf.Tensor; dgamma: tf.Tensor; dbeta: tf.Tensor }[]> {
  const local = dys.map((dy, i) => tf.tidy(() => [tf.sum(dy, reduceAxes(dy)), tf.sum(tf.mul(dy, caches[i].xhat), reduceAxes(dy))]));
  let sums: Float32Array[];
  try {
    sums = await reduce(ctx, local.map(([dbeta, dgamma]) => {
      const v = new Float32Array(2 * dbeta.size);
      v.set(dbeta.dataSync() as Float32Array, 0);
      v.set(dgamma.dataSync() as Float32Array, dbeta.size);
      return v;
    }), `${tag}/grad`);
  } catch (err) {
    tf.dispose(local.flat());
    throw err;
  }
  return dys.map((dy, i) => {
    const c = caches[i];
    const [dbeta, dgamma] = local[i];
    const channels = dbeta.size;
    const dz = tf.tidy(() => {
      const meanDy = tf.tensor1d(sums[i].subarray(0, channels).map((s) => s / c.count));
      const meanDyXhat = tf.tensor1d(sums[i].subarray(channels).map((s) => s / c.count));
      const centred = tf.sub(tf.sub(dy, meanDy), tf.mul(c.xhat, meanDyXhat));
      return tf.mul(centred, tf.mul(c.bn.gamma, c.rstd));
    });
    return { dz, dgamma, dbeta };
  });
}
