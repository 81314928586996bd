// Convolutional GANs.
// Generator (dcgan: no fc1; infogan, the workshop's: with fc1):
//   z (B, zDim) -> [dense 16w, batch norm, ReLU]                 -> (B, 16w)      infogan only
//               -> dense 7*7*2w, batch norm, ReLU, reshape        -> (B, 7, 7, 2w)
//               -> [conv 2w k5 (or k3) s1, batch norm, ReLU]      -> (B, 7, 7, 2w)  gLayers 3-6
//               -> deconv w k4 s2, batch norm, ReLU              -> (B, 14, 14, w)
//               -> [conv w k3 s1, batch norm, ReLU] x 1 or 2     -> (B, 14, 14, w)    gLayers 4; 5, 6
//               -> deconv 1 k4 s2, tanh                          -> (B, 28, 28, 1)    gLayers 2-5
//                | deconv w/2 k4 s2, batch norm, ReLU, conv 1 k3 s1, tanh          gLayers 6
// With w = 64 the infogan generator is the workshop's z(62) -> 1024 -> 7*7*128 -> 64 -> 1.
// Discriminator: the classifier body (conv-body.ts) with one raw output; optionally (dLayers 3) a
// third conv layer, 7x7 -> 4x4, whose units each see the whole digit, and (dLayers 4, 5) one or two
// stride-1 3x3 convs after it at 4x4.
import { tf } from '../tf.ts';
import { ParamStore, batchNorm, batchNormParams, conv, convParams, deconv, deconvParams, dense, denseParams } from '../layers.ts';
import type { ForwardMode, Model } from '../model.ts';
import { convBody } from './conv-body.ts';

export interface ConvGanSizes {
  zDim: number;
  gWidth: number;
  dWidth: number;
  /** Conv layers of D: 2; 3 (a third conv 4w k3 s2 to 4x4, batch norm, leaky); 4-5 (then 1-2 convs
   * 4w k3 s1 at 4x4, batch norm, leaky). */
  dLayers: number;
  /** Conv layers of G: 2; 3 (first a conv 2w k5 s1 at 7x7, batch norm, ReLU); 4 (and a conv w k3 s1
   * at 14x14, batch norm, ReLU, between the deconvs); 5 (two of those at 14x14); 6 (and the last
   * deconv makes w/2 maps at 28x28, batch norm, ReLU, then a conv 1 k3 s1 makes the image). */
  gLayers: number;
  /** Kernel size of G's 7x7 conv (gLayers 3): 5 or 3. */
  gKernel: number;
  /** Units of the extra dense layer in G and D (infogan: 16 * width); 0 for the small DCGAN. */
  gDense: number;
  dDense: number;
  imageShape: readonly [number, number, number];
}

export function convGenerator(s: ConvGanSizes, arch: Record<string, unknown>, seed: number): Model {
  const [h, w, c] = s.imageShape;
  const h4 = h / 4;
  const w4 = w / 4;
  const p = new ParamStore(seed);
  const fc1 = s.gDense > 0 ? denseParams(p, 'fc1', s.zDim, s.gDense) : undefined;
  const bn1 = s.gDense > 0 ? batchNormParams(p, 'bn1', s.gDense) : undefined;
  const fc2 = denseParams(p, 'fc2', s.gDense > 0 ? s.gDense : s.zDim, h4 * w4 * 2 * s.gWidth);
  const bn2 = batchNormParams(p, 'bn2', h4 * w4 * 2 * s.gWidth);
  const c2b = s.gLayers >= 3 ? convParams(p, 'conv2b', s.gKernel, 2 * s.gWidth, 2 * s.gWidth, 1) : undefined;
  const bn2b = s.gLayers >= 3 ? batchNormParams(p, 'bn2b', 2 * s.gWidth) : undefined;
  const dc3 = deconvParams(p, 'deconv3', 4, 2 * s.gWidth, s.gWidth, 2);
  const bn3 = batchNormParams(p, 'bn3', s.gWidth);
  // The stride-1 convs at 14x14 (gLayers 4: conv3b; 5: conv3b, conv3c), each with its batch norm.
  const at14 = ['b', 'c'].slice(0, Math.min(2, Math.max(0, s.gLayers - 3))).map((l) => ({
    conv: convParams(p, `conv3${l}`, 3, s.gWidth, s.gWidth, 1), bn: batchNormParams(p, `bn3${l}`, s.gWidth),
  }));
  // gLayers 6: the last deconv makes w/2 maps at 28x28 and a 3x3 conv (conv5) the image.
  const w28 = s.gLayers === 6 ? Math.max(1, Math.floor(s.gWidth / 2)) : 0;
  const dc4 = deconvParams(p, 'deconv4', 4, s.gWidth, w28 > 0 ? w28 : c, 2);
  const at28 = w28 > 0 ? { bn: batchNormParams(p, 'bn4', w28), conv: convParams(p, 'conv5', 3, w28, c, 1) } : undefined;
  return {
    role: 'generator', arch, inputShape: [s.zDim], outputShape: s.imageShape,
    params: p.params, state: p.state,
    apply: (z: tf.Tensor, mode: ForwardMode) => tf.tidy(() => {
      let x: tf.Tensor = z; // (B, zDim)
      if (fc1 && bn1) x = tf.relu(batchNorm(dense(x, fc1), bn1, mode)); // (B, 16w)
      x = tf.relu(batchNorm(dense(x, fc2), bn2, mode)); // (B, 7*7*2w)
      let x4 = tf.reshape(x, [z.shape[0], h4, w4, 2 * s.gWidth]) as tf.Tensor4D; // (B, 7, 7, 2w)
      if (c2b && bn2b) x4 = tf.relu(batchNorm(conv(x4, c2b), bn2b, mode)) as tf.Tensor4D; // (B, 7, 7, 2w)
      let x3 = tf.relu(batchNorm(deconv(x4, dc3), bn3, mode)) as tf.Tensor4D; // (B, 14, 14, w)
      for (const l of at14) x3 = tf.relu(batchNorm(conv(x3, l.conv), l.bn, mode)) as tf.Tensor4D; // (B, 14, 14, w)
      if (!at28) return tf.tanh(deconv(x3, dc4)); // (B, 28, 28, 1)
      const x2 = tf.relu(batchNorm(deconv(x3, dc4), at28.bn, mode)) as tf.Tensor4D; // (B, 28, 28, w/2)
      return tf.tanh(conv(x2, at28.conv)); // (B, 28, 28, 1)
    }),
    dispose: () => p.dispose(),
  };
}

export function convDiscriminator(s: ConvGanSizes, arch: Record<string, unknown>, seed: number): Model {
  const body = convBody({ imageShape: s.imageShape, width: s.dWidth, convLayers: s.dLayers, denseUnits: s.dDense, outputs: 1 }, seed);
  return {
    role: 'discriminator', arch, inputShape: s.imageShape, outputShape: [1],
    params: body.params, state: body.state, segments: body.segments,
    apply: (x: tf.Tensor, mode: ForwardMode) => tf.tidy(() => body.forward(x, mode).out), // (B, 1)
    dispose: () => body.dispose(),
  };
}
