// Conv2DBackpropFilter split over the output channels: dW[..., o] = Σ_{b, oy, ox} x[...] · dy[b, oy, ox, o]
// needs all of x but only channel o of dy, so each share is the one-thread kernel on a channel
// block of dy (B·Ho·Wo, co) -> its block of dW (kh·kw·ci, co). Every element keeps its sum over
// the batch in the one-thread order: bit-identical to one thread (a batch split would add two
// partial sums and differ by float32 reassociation). The cost: each thread reads all of x.
import { tf } from '../../tf.ts';
import { colBlock, ranges, wholeBlock } from './blocks.ts';
import { SPLIT_MIN_FLOPS, type SplitKernel } from './split-kernel.ts';
import type { Share } from './split-run.ts';

type Shape4 = [number, number, number, number];

export const conv2DBackpropFilterSplit: SplitKernel = {
  kernelName: 'Conv2DBackpropFilter',
  plan({ inputs, attrs }, threads) {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(a.dataFormat);
    if (format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
    const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, format);
    const { batchSize: nb, outHeight: ho, outWidth: wo, outChannels: co, filterHeight: kh, filterWidth: kw, inChannels: ci } = info;
    const flops = 2 * nb * ho * wo * kh * kw * ci * co;
    if (flops < SPLIT_MIN_FLOPS || co < 2) return null;
    const xSize = x.shape.reduce((p, q) => p * q, 1);
    const shares: Share[] = ranges(co, threads).map(([c0, c1]) => ({
      attrs: { ...attrs, filterShape: [kh, kw, ci, c1 - c0] } as unknown as tf.NamedAttrMap,
      inputs: {
        x: { info: x, block: wholeBlock(1, xSize), shape: [...x.shape] },
        dy: { info: dy, block: colBlock(nb * ho * wo, co, c0, c1), shape: [nb, ho, wo, c1 - c0] },
      },
      outShape: [kh, kw, ci, c1 - c0],
      outBlock: colBlock(kh * kw * ci, co, c0, c1),
    }));
    return { kernel: 'Conv2DBackpropFilter', outShape: [kh, kw, ci, co], shares };
  },
};
