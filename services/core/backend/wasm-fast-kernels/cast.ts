// Cast to the tensor's own dtype shares the buffer (see identity.ts); real conversions are stock.
import type { tf } from '../../tf.ts';
import { call, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';
import { share } from './identity.ts';

function cast({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const { dtype } = attrs as unknown as tf.CastAttrs;
  if (dtype !== x.dtype || x.dtype === 'string') return call(backend as WasmBackend, 'Cast', inputs, attrs);
  return share(backend as WasmBackend, x);
}

export const castKernel: FastKernel = { kernelName: 'Cast', kernelFunc: cast };
