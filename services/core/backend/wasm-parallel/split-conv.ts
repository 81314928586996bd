// Conv2D (forward) and Conv2DBackpropInput (conv2d's dx and conv2dTranspose's forward pass)
// split over the batch: every sample is computed from its own rows of x (or dy) and the whole
// filter, so each share is the one-thread kernel on fewer samples and the result is bit-identical
// to one thread. NCHW and non-float32 calls stay on one thread.
import { tf } from '../../tf.ts';
import { ranges, rowBlock, wholeBlock } from './blocks.ts';
import { SPLIT_MIN_FLOPS, type SplitKernel } from './split-kernel.ts';
import type { Share, SplitPlan } from './split-run.ts';

type Shape4 = [number, number, number, number];

/** Multiply-adds x2 of the convolution that `info` describes. */
function convFlops(info: tf.backend_util.Conv2DInfo): number {
  return 2 * info.batchSize * info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels * info.outChannels;
}

/**
 * Shares of a batch-major call: `data` (B, ...) is cut into batch ranges, `filter` goes whole to
 * every share, and the output (B, ...) is cut the same way.
 */
function batchPlan(kernel: string, data: { name: string; info: tf.TensorInfo }, filter: { name: string; info: tf.TensorInfo },
  outShape: number[], threads: number, attrsFor: (batch: number) => tf.NamedAttrMap): SplitPlan {
  const [nb, ...inner] = data.info.shape;
  const perSample = inner.reduce((a, b) => a * b, 1);
  const outPerSample = outShape.slice(1).reduce((a, b) => a * b, 1);
  const shares: Share[] = ranges(nb, threads).map(([b0, b1]) => ({
    attrs: attrsFor(b1 - b0),
    inputs: {
      [data.name]: { info: data.info, block: rowBlock(nb, perSample, b0, b1), shape: [b1 - b0, ...inner] },
      [filter.name]: { info: filter.info, block: wholeBlock(1, filter.info.shape.reduce((a, b) => a * b, 1)), shape: [...filter.info.shape] },
    },
    outShape: [b1 - b0, ...outShape.slice(1)],
    outBlock: rowBlock(nb, outPerSample, b0, b1),
  }));
  return { kernel, outShape, shares };
}

const channelsLast = (dataFormat: unknown): boolean => tf.backend_util.convertConv2DDataFormat(dataFormat as 'NHWC' | 'NCHW') === 'channelsLast';

export const conv2DSplit: SplitKernel = {
  kernelName: 'Conv2D',
  plan({ inputs, attrs }, threads) {
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DAttrs;
    if (!channelsLast(a.dataFormat) || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape[0] < 2) return null;
    const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, a.strides, a.dilations, a.pad,
      a.dimRoundingMode, false, 'channelsLast');
    if (convFlops(info) < SPLIT_MIN_FLOPS) return null;
    return batchPlan('Conv2D', { name: 'x', info: x }, { name: 'filter', info: filter }, info.outShape, threads, () => attrs as tf.NamedAttrMap);
  },
};

export const conv2DBackpropInputSplit: SplitKernel = {
  kernelName: 'Conv2DBackpropInput',
  plan({ inputs, attrs }, threads) {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (!channelsLast(a.dataFormat) || dy.dtype !== 'float32' || filter.dtype !== 'float32' || dy.shape[0] < 2) return null;
    const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as Shape4, a.strides, 1, a.pad,
      a.dimRoundingMode, false, 'channelsLast');
    if (convFlops(info) < SPLIT_MIN_FLOPS) return null;
    const [, h, w, c] = a.inputShape;
    return batchPlan('Conv2DBackpropInput', { name: 'dy', info: dy }, { name: 'filter', info: filter }, [...a.inputShape], threads,
      (batch) => ({ ...attrs, inputShape: [batch, h, w, c] }) as unknown as tf.NamedAttrMap);
  },
};
