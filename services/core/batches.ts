// Batches as tensors. Every gantry model consumes images in [-1, 1] (the generator ends in tanh),
// so the scaling lives here, once. Each tensor is built from one typed array in one tf call.
import { tf } from './tf.ts';
import type { ImageSet } from '../data/imageset.ts';

function checkIndices(set: ImageSet, indices: ArrayLike<number>): void {
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!(k >= 0 && k < set.count && Number.isInteger(k))) {
      throw new RangeError(`${set.source}: sample index ${k} at position ${i} is outside 0..${set.count - 1}`);
    }
  }
}

/** Images x/127.5 - 1 as (B, H, W, 1) float32. */
export function imageBatch(set: ImageSet, indices: ArrayLike<number>): tf.Tensor4D {
  checkIndices(set, indices);
  const size = set.height * set.width;
  const out = new Float32Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * size;
    const dst = b * size;
    for (let p = 0; p < size; p++) out[dst + p] = set.images[src + p] / 127.5 - 1;
  }
  return tf.tensor4d(out, [indices.length, set.height, set.width, 1], 'float32');
}

/** Class ids as (B,) int32. */
export function labelBatch(set: ImageSet, indices: ArrayLike<number>): tf.Tensor1D {
  checkIndices(set, indices);
  const out = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) out[b] = set.labels[indices[b]];
  return tf.tensor1d(out, 'int32');
}

/** One-hot labels as (B, numClasses) float32. */
export function oneHotBatch(set: ImageSet, indices: ArrayLike<number>): tf.Tensor2D {
  checkIndices(set, indices);
  const out = new Float32Array(indices.length * set.numClasses);
  for (let b = 0; b < indices.length; b++) out[b * set.numClasses + set.labels[indices[b]]] = 1;
  return tf.tensor2d(out, [indices.length, set.numClasses], 'float32');
}
