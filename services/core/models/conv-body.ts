// The workshop classifier's body, also the convolutional discriminator:
//   (B, 28, 28, 1) -> conv w k4 s2, leaky             -> (B, 14, 14, w)
//                  -> conv 2w k4 s2, batch norm, leaky -> (B, 7, 7, 2w)
//                  -> [conv 4w k3 s2, batch norm, leaky] -> (B, 4, 4, 4w)   (convLayers >= 3)
//                  -> [conv 4w k3 s1, batch norm, leaky] x (convLayers - 3) -> (B, 4, 4, 4w)
//                  -> flatten (B, 49*2w) -> [dense u, batch norm, leaky] -> dense `outputs`
// The dense-u block is optional (the small DCGAN discriminator has none).
import { tf } from '../tf.ts';
import { ParamStore, batchNorm, batchNormParams, conv, convParams, dense, denseParams, leaky } from '../layers.ts';
import type { ForwardMode, NamedVariable, Segment } from '../model.ts';

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
  /** The body between its batch norms (model.ts Segment); `forward` is built from the same pieces. */
  segments: Segment[];
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
    name: `bn2c${i}`,
    conv: convParams(p, `conv2c${i}`, 3, 4 * s.width, 4 * s.width, 1),
    bn: batchNormParams(p, `bn2c${i}`, 4 * s.width),
  }));
  const flat = third
    ? Math.ceil(h / 8) * Math.ceil(w / 8) * 4 * s.width
    : Math.ceil(h / 4) * Math.ceil(w / 4) * 2 * s.width;
  const fc = s.denseUnits > 0 ? denseParams(p, 'fc3', flat, s.denseUnits) : undefined;
  const bn3 = s.denseUnits > 0 ? batchNormParams(p, 'bn3', s.denseUnits) : undefined;
  const out = denseParams(p, 'out', s.denseUnits > 0 ? s.denseUnits : flat, s.outputs);

  // Segments: each ends where a batch norm begins; the leaky ReLU after a batch norm opens the next.
  const segments: Segment[] = [
    // (B, 28, 28, 1) -> conv1, leaky (B, 14, 14, w) -> conv2 (B, 7, 7, 2w), before bn2
    { name: 'bn2', params: [c1.kernel, c1.bias, c2.kernel, c2.bias], bn: bn2, apply: (x) => conv(leaky(conv(x, c1)), c2) },
  ];
  // (B, 7, 7, 2w) -> leaky, conv2b (B, 4, 4, 4w), before bn2b
  if (c2b && bn2b) segments.push({ name: 'bn2b', params: [c2b.kernel, c2b.bias], bn: bn2b, apply: (x) => conv(leaky(x), c2b) });
  // (B, 4, 4, 4w) -> leaky, conv (B, 4, 4, 4w), before its batch norm
  for (const l of deep) segments.push({ name: l.name, params: [l.conv.kernel, l.conv.bias], bn: l.bn, apply: (x) => conv(leaky(x), l.conv) });
  const flatten = (x: tf.Tensor): tf.Tensor2D => tf.reshape(leaky(x), [x.shape[0], flat]) as tf.Tensor2D; // (B, 49*2w) or (B, 16*4w)
  // (B, flat) -> dense fc3 (B, u), before bn3
  if (fc && bn3) segments.push({ name: 'bn3', params: [fc.kernel, fc.bias], bn: bn3, apply: (x) => dense(flatten(x), fc) });
  // The last batch norm's output -> the features (B, F) -> dense out (B, outputs).
  const features = fc ? (x: tf.Tensor) => leaky(x) as tf.Tensor2D : flatten;
  segments.push({ name: 'out', params: [out.kernel, out.bias], apply: (x) => dense(features(x), out) });

  return {
    params: p.params,
    state: p.state,
    segments,
    forward: (x, mode) => {
      let hidden: tf.Tensor = x;
      for (const seg of segments) if (seg.bn) hidden = batchNorm(seg.apply(hidden), seg.bn, mode);
      const f = features(hidden);
      return { features: f, out: dense(f, out) }; // the last segment's apply, keeping the features
    },
    dispose: () => p.dispose(),
  };
}
