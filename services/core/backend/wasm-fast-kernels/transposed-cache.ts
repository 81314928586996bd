// Transposed copies of matrices that are multiplied more than once, keyed by the original's
// buffer. A weight W is the right operand of x·W in every forward pass of a step (D sees real
// and fake batches; G runs three times per GAN iteration), and the fast BatchMatMul multiplies
// by its transpose (batch-mat-mul.ts), so the transpose is made once per value of W. Tensors are
// immutable and a variable update gives W a new buffer, so an entry is valid exactly as long as
// its original buffer exists; entries of freed originals are released on the next insertion.
import type { tf } from '../../tf.ts';
import { release, transpose, type WasmBackend } from '../wasm-backend.ts';

interface Entry { backend: WasmBackend; shape: string; transposed: tf.TensorInfo }

const entries = new Map<tf.DataId, Entry>();

function sweep(): void {
  for (const [dataId, e] of entries) {
    if (!e.backend.dataIdMap.has(dataId)) {
      if (e.backend.dataIdMap.has(e.transposed.dataId)) release(e.backend, e.transposed);
      entries.delete(dataId);
    }
  }
}

/** (1, R, C) -> (1, C, R) of a live matrix; the cache owns the result (do not release it). */
export function cachedTranspose(backend: WasmBackend, m: tf.TensorInfo): tf.TensorInfo {
  const shape = m.shape.join(',');
  const hit = entries.get(m.dataId);
  if (hit != null && hit.backend === backend && hit.shape === shape) return hit.transposed;
  sweep();
  if (hit != null) {
    release(hit.backend, hit.transposed);
    entries.delete(m.dataId);
  }
  const transposed = transpose(backend, m, [0, 2, 1]);
  entries.set(m.dataId, { backend, shape, transposed });
  return transposed;
}

/** Releases every cached copy (tests; or before measuring the backend's buffers). */
export function clearTransposedCache(): void {
  for (const e of entries.values()) {
    if (e.backend.dataIdMap.has(e.transposed.dataId)) release(e.backend, e.transposed);
  }
  entries.clear();
}

export function transposedCacheSize(): number {
  return entries.size;
}
