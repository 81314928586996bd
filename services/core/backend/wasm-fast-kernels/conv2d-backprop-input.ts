// Conv2DBackpropInput (the input gradient of conv2d and the forward pass of conv2dTranspose) as
// stride-1 XNNPACK convolutions over dy (sub-pixel.ts); the stock wasm kernel is a scalar loop
// nest. NCHW (and unequal strides that need negative padding) stay on the stock kernel.
import { tf } from '../../tf.ts';
import { call, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';
import { packedPhases, perPhase } from './sub-pixel.ts';

// Below this many dx channels a per-phase convolution is too narrow for XNNPACK to be efficient
// and the packed form (s² times the channels) wins.
const PER_PHASE_MIN_CHANNELS = 8;

function conv2DBackpropInput({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, format);
  if (format !== 'channelsLast' || dy.dtype !== 'float32') return call(wasm, 'Conv2DBackpropInput', inputs, attrs);
  const unequal = info.strideHeight !== info.strideWidth;
  if (info.inChannels >= PER_PHASE_MIN_CHANNELS || unequal) {
    const dx = perPhase(wasm, dy, filter, info);
    if (dx != null) return dx;
  }
  return unequal ? call(wasm, 'Conv2DBackpropInput', inputs, attrs) : packedPhases(wasm, dy, filter, info);
}

export const conv2DBackpropInputKernel: FastKernel = { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2DBackpropInput };
