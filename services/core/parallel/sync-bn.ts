// Batch norm across a replica group (as PyTorch's SyncBatchNorm), one layer at a time, outside any
// gradient tape: the forward pass normalises with the group's moments, the backward pass is the
// closed form of batch norm's gradient with the group's sums. Shapes: x (b, ..., C) is this
// rank's slice of a global batch of B rows; moments are per channel over every other axis, with
// count M = B * (elements per row per channel).
//
// Forward (two sums, as tf.moments computes mean first, then the variance about it; the one-pass
// E[x^2] - mean^2 form would save a collective but cancels badly in float32):
//   mean = sum_group(sum x) / M                       "<tag>/sum"    (C,)
//   var  = sum_group(sum (x - mean)^2) / M            "<tag>/sumsq"  (C,)   (biased, as tf.moments)
//   x_hat = (x - mean) rsqrt(var + eps);  y = gamma x_hat + beta   (the ops of layers.ts batchNorm)
// Backward, given dy = dL/dy (b, ..., C):
//   [S1, S2] = sum_group([sum dy, sum dy x_hat])      "<tag>/grad"   (2C,)
//   dx = gamma rsqrt(var + eps) (dy - S1 / M - x_hat S2 / M)
//   dgamma, dbeta = this rank's sum dy x_hat, sum dy (the fused gradient sum adds the ranks' parts)
// With sync false every sum stays local and M counts this rank's rows only.
import { tf } from '../tf.ts';
import { BN_EPSILON, type BatchNorm } from '../layers.ts';
import { checkedSum, type ReplicaGroup } from './group.ts';

export interface BnContext {
  group: ReplicaGroup;
  /** Normalise with the group's moments (true) or this rank's own (false). */
  sync: boolean;
  /** Rows of the global batch (B) and of this rank's slice (b). */
  globalRows: number;
  localRows: number;
}

/** What one batch norm's backward pass needs from its forward pass. Owns xhat and rstd. */
export interface BnCache {
  bn: BatchNorm;
  tag: string;
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

async function reduce(ctx: BnContext, local: Float32Array, tag: string): Promise<Float32Array> {
  return ctx.sync ? checkedSum(ctx.group, local, tag) : local;
}

/** Copies a tensor's values into a Float32Array this code owns, and disposes the tensor. */
function take(t: tf.Tensor): Float32Array {
  const out = Float32Array.from(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

/** z (b, ..., C) pre-batch-norm -> y (b, ..., C) normalised with the (group's) batch moments. */
export async function bnForward(z: tf.Tensor, bn: BatchNorm, ctx: BnContext, tag: string): Promise<{ y: tf.Tensor; cache: BnCache }> {
  const axes = reduceAxes(z);
  const channels = z.shape[z.shape.length - 1];
  const perRow = z.size / (z.shape[0] * channels);
  const count = (ctx.sync ? ctx.globalRows : ctx.localRows) * perRow;
  // Float32Array.from rounds the float64 quotient once: the float32 division tf.mean performs.
  const sum = await reduce(ctx, take(tf.sum(z, axes)), `${tag}/sum`);
  const mean = Float32Array.from(sum, (s) => s / count);
  const sumsq = await reduce(ctx, take(tf.tidy(() => tf.sum(tf.square(tf.sub(z, tf.tensor1d(mean))), axes))), `${tag}/sumsq`);
  const variance = Float32Array.from(sumsq, (s) => s / count);
  const [xhat, rstd, y] = tf.tidy(() => {
    const rs = tf.rsqrt(tf.add(tf.tensor1d(variance), BN_EPSILON)) as tf.Tensor1D;
    const xh = tf.mul(tf.sub(z, tf.tensor1d(mean)), rs);
    return [xh, rs, tf.add(tf.mul(xh, bn.gamma), bn.beta)];
  });
  return { y, cache: { bn, tag, xhat, rstd: rstd as tf.Tensor1D, count, mean, variance } };
}

/** dy (b, ..., C) = dL/dy -> dL/dz (b, ..., C) and this rank's share of dL/dgamma, dL/dbeta (C,). */
export async function bnBackward(dy: tf.Tensor, c: BnCache, ctx: BnContext): Promise<{ dz: tf.Tensor; dgamma: tf.Tensor; dbeta: tf.Tensor }> {
  const axes = reduceAxes(dy);
  const [dbeta, dgamma] = tf.tidy(() => [tf.sum(dy, axes), tf.sum(tf.mul(dy, c.xhat), axes)]);
  const channels = dbeta.size;
  const local = new Float32Array(2 * channels);
  local.set(dbeta.dataSync() as Float32Array, 0);
  local.set(dgamma.dataSync() as Float32Array, channels);
  let sums: Float32Array;
  try {
    sums = await reduce(ctx, local, `${c.tag}/grad`);
  } catch (err) {
    tf.dispose([dbeta, dgamma]);
    throw err;
  }
  const dz = tf.tidy(() => {
    const meanDy = tf.tensor1d(sums.subarray(0, channels).map((s) => s / c.count));
    const meanDyXhat = tf.tensor1d(sums.subarray(channels).map((s) => s / c.count));
    const centred = tf.sub(tf.sub(dy, meanDy), tf.mul(c.xhat, meanDyXhat));
    return tf.mul(centred, tf.mul(c.bn.gamma, c.rstd));
  });
  return { dz, dgamma, dbeta };
}
