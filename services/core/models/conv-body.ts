// The workshop classifier's body, also the convolutional discriminator:
//   (B, 28, 28, 1) -> conv w k4 s2, leaky             -> (B, 14, 14, w)
//                  -> conv 2w k4 s2, batch norm, leaky -> (B, 7, 7, 2w)
//                  -> [conv 4w k3 s2, batch norm, leaky] -> (B, 4, 4, 4w)   (convLayers >= 3)
//                  -> [conv 4w k3 s1, batch norm, leaky] x (convLayers - 3) -> (B, 4, 4, 4w)
//                  -> flatten (B, 49*2w) -> [dense u, batch norm, leaky] -> dense `outputs`
// The dense-u block is optional (the small DCGAN discriminator has none).
import { tf } from '../tf.ts';
import { ParamStore, batchNorm, batchNormParams, conv, convParams, dense, denseParams, leaky } from '../layers.ts';
import type { ForwardMode, NamedVariable } from '../model.ts';

export interface ConvBodySizes {
  imageShape: readonly [number, number, number];
  width: number;
  /** Conv layers: 2 (the workshop's), 3 (a third, stride 2, to 4x4), or 4-5 (then 1-2 stride-1
   * 3x3 convs at 4x4); default 2. */
  convLayers?: number;
  /** Units of the penultimate dense layer, or 0 for none. */
  denseUnits: number;
  outputs: number;
}

export interface ConvBody {
  params: NamedVariable[];
  state: NamedVariable[];
  /** features: the input of the last dense layer (B, F); out: (B, outputs). */
  forward(x: tf.Tensor, mode: ForwardMode): { features: tf.Tensor2D; out: tf.Tensor2D };
  dispose(): void;
}

export function convBody(s: ConvBodySizes, seed: number): ConvBody {
  const [h, w, c] = s.imageShape;
  const p = new ParamStore(seed);
  const c1 = convParams(p, 'conv1', 4, c, s.width, 2);
  const c2 = convParams(p, 'conv2', 4, s.width, 2 * s.width, 2);
  const bn2 = batchNormParams(p, 'bn2', 2 * s.width);
  const layers = s.convLayers ?? 2;
  const third = layers >= 3;
  const c2b = third ? convParams(p, 'conv2b', 3, 2 * s.width, 4 * s.width, 2) : undefined;
  const bn2b = third ? batchNormParams(p, 'bn2b', 4 * s.width) : undefined;
  const deep = Array.from({ length: Math.max(0, layers - 3) }, (_, i) => ({
    conv: convParams(p, `conv2c${i}`, 3, 4 * s.width, 4 * s.width, 1),
    bn: batchNormParams(p, `bn2c${i}`, 4 * s.width),
  }));
  const flat = third
    ? Math.ceil(h / 8) * Math.ceil(w / 8) * 4 * s.width
    : Math.ceil(h / 4) * Math.ceil(w / 4) * 2 * s.width;
  const fc = s.denseUnits > 0 ? denseParams(p, 'fc3', flat, s.denseUnits) : undefined;
  const bn3 = s.denseUnits > 0 ? batchNormParams(p, 'bn3', s.denseUnits) : undefined;
  const out = denseParams(p, 'out', s.denseUnits > 0 ? s.denseUnits : flat, s.outputs);
  return {
    params: p.params,
    state: p.state,
    forward: (x, mode) => {
      const h1 = leaky(conv(x, c1)); // (B, 14, 14, w)
      let h2 = leaky(batchNorm(conv(h1, c2), bn2, mode)); // (B, 7, 7, 2w)
      if (c2b && bn2b) h2 = leaky(batchNorm(conv(h2, c2b), bn2b, mode)); // (B, 4, 4, 4w)
      for (const l of deep) h2 = leaky(batchNorm(conv(h2, l.conv), l.bn, mode)); // (B, 4, 4, 4w)
      let features = tf.reshape(h2, [x.shape[0], flat]) as tf.Tensor2D; // (B, 49*2w) or (B, 16*4w)
      if (fc && bn3) features = leaky(batchNorm(dense(features, fc), bn3, mode)) as tf.Tensor2D; // (B, u)
      return { features, out: dense(features, out) };
    },
    dispose: () => p.dispose(),
  };
}
