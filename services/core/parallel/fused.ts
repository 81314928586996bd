// The one fused buffer a replica step sums over the group: every parameter's gradient, flattened
// in model.params order, then the step's scalars (loss and metric shares, per-replica moments).
// After the sum every rank splits the same buffer the same way and applies the same update.
import { tf } from '../tf.ts';
import type { NamedVariable } from '../model.ts';
import { updateMovingStats } from '../layers.ts';
import type { BatchNorm } from '../layers.ts';
import type { GradMap } from './chain.ts';
import { ReplicaConfigError } from './errors.ts';

/**
 * [grad of params[0] (flat), ..., grad of params[P-1], ...extras]; disposes nothing. The pieces are
 * joined on the backend (one concat) and read back once: one buffer allocated and filled per step,
 * not one per gradient and a second to hold them (26 MB each for the workshop classifier, and
 * garbage-collection work on every step).
 */
export function fuseGrads(params: readonly NamedVariable[], grads: GradMap, extras: readonly number[]): Float32Array {
  const flat = tf.tidy(() => {
    const parts = params.map(({ name, variable }) => {
      const g = grads.get(variable);
      // Every parameter is read by some segment or batch norm; a missing one is a model bug.
      if (!g) throw new ReplicaConfigError('model.segments', 'segments that read every parameter', name);
      return tf.reshape(g, [-1]);
    });
    if (extras.length > 0) parts.push(tf.tensor1d(extras as number[], 'float32'));
    return tf.concat(parts);
  });
  try {
    const buf = flat.dataSync();
    if (!(buf instanceof Float32Array)) throw new ReplicaConfigError('gradients', 'float32 tensors', flat.dtype);
    return buf;
  } finally {
    flat.dispose();
  }
}

/** The gradients of a summed buffer as tensors in params order (caller disposes), and the extras. */
export function splitGrads(params: readonly NamedVariable[], buf: Float32Array): { grads: tf.Tensor[]; extras: Float32Array } {
  let off = 0;
  const grads = params.map(({ variable }) => {
    const t = tf.tensor(buf.subarray(off, off + variable.size), variable.shape, 'float32');
    off += variable.size;
    return t;
  });
  return { grads, extras: buf.subarray(off) };
}

/** The first non-finite element of buf[0, end), or -1. */
export function firstNonFinite(buf: Float32Array, end = buf.length): number {
  for (let i = 0; i < end; i++) if (!Number.isFinite(buf[i])) return i;
  return -1;
}

/** Moments a batch norm folds into its moving statistics once the step is known to be good. */
export interface PendingStats { bn: BatchNorm; mean: Float32Array; variance: Float32Array }

/** moving = 0.9 moving + 0.1 batch, exactly layers.ts's update, with the given (group) moments. */
export function applyStats(pending: readonly PendingStats[]): void {
  tf.tidy(() => {
    for (const p of pending) updateMovingStats(p.bn, tf.tensor1d(p.mean), tf.tensor1d(p.variance));
  });
}

/** Per-replica statistics: the local [mean, variance] of each batch norm, for the fused sum. */
export function momentExtras(pending: readonly PendingStats[]): number[] {
  return pending.flatMap((p) => [...p.mean, ...p.variance]);
}

/** The group mean of the per-replica moments read back from the summed extras. */
export function averagedStats(pending: readonly PendingStats[], summed: Float32Array, size: number): PendingStats[] {
  let off = 0;
  return pending.map((p) => {
    const c = p.mean.length;
    const mean = summed.slice(off, off + c).map((s) => s / size);
    const variance = summed.slice(off + c, off + 2 * c).map((s) => s / size);
    off += 2 * c;
    return { bn: p.bn, mean, variance };
  });
}
