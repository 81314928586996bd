// Identity (and Cast to the same dtype, cast.ts) without a copy. The stock wasm kernels copy the
// buffer; the engine's reference counts make sharing it safe (tensors are immutable, and the cpu
// backend's Identity shares too). tf.moments casts its input to float32 and gradients pass
// through Identity, so a dcgan step copied ~300 activations for nothing.
import type { tf } from '../../tf.ts';
import { call, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';

interface RefCounted { incRef(dataId: tf.DataId): void }

export function share(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  (backend as unknown as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function identity({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return call(backend as WasmBackend, 'Identity', inputs, attrs);
  return share(backend as WasmBackend, x);
}

export const identityKernel: FastKernel = { kernelName: 'Identity', kernelFunc: identity };
