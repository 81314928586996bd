// Mean over leading axes without the stock kernel's transpose (see outer-reduce.ts).
import type { tf } from '../../tf.ts';
import { call, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';
import { leadingAxes, reduceLeading } from './outer-reduce.ts';

function mean({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const { axis, keepDims } = attrs as unknown as tf.MeanAttrs;
  const k = x.dtype === 'float32' ? leadingAxes(x.shape, axis) : 0;
  if (k === 0) return call(backend as WasmBackend, 'Mean', inputs, attrs);
  const rows = x.shape.slice(0, k).reduce((a, b) => a * b, 1);
  return reduceLeading(backend as WasmBackend, x, k, keepDims, 1 / rows);
}

export const meanKernel: FastKernel = { kernelName: 'Mean', kernelFunc: mean };
