// The workshop's first GAN: fully connected generator and discriminator.
//   G: z (B, zDim) -> dense w, leaky -> dense 2w, leaky -> dense 784, tanh -> (B, 28, 28, 1)
//   D: (B, 28, 28, 1) -> flatten (B, 784) -> dense 2w, leaky -> dense w, leaky -> dense 1 (raw score)
// With w = 256 this is the 100-256-512-784 / 784-512-256-1 pair of ENVIRONMENT.md.
import { tf } from '../tf.ts';
import { ParamStore, dense, denseParams, leaky } from '../layers.ts';
import type { ForwardMode, Model, Segment } from '../model.ts';

export interface MlpGanSizes { zDim: number; gWidth: number; dWidth: number; imageShape: readonly [number, number, number] }

function pixels(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function mlpGenerator(s: MlpGanSizes, arch: Record<string, unknown>, seed: number): Model {
  const p = new ParamStore(seed);
  const l1 = denseParams(p, 'fc1', s.zDim, s.gWidth);
  const l2 = denseParams(p, 'fc2', s.gWidth, 2 * s.gWidth);
  const out = denseParams(p, 'out', 2 * s.gWidth, pixels(s.imageShape));
  return {
    role: 'generator', arch, inputShape: [s.zDim], outputShape: s.imageShape,
    params: p.params, state: p.state,
    apply: (z: tf.Tensor, _mode: ForwardMode) => tf.tidy(() => {
      const h1 = leaky(dense(z, l1)); // (B, w)
      const h2 = leaky(dense(h1, l2)); // (B, 2w)
      const x = tf.tanh(dense(h2, out)); // (B, 784)
      return tf.reshape(x, [z.shape[0], ...s.imageShape]); // (B, 28, 28, 1)
    }),
    dispose: () => p.dispose(),
  };
}

export function mlpDiscriminator(s: MlpGanSizes, arch: Record<string, unknown>, seed: number): Model {
  const p = new ParamStore(seed);
  const l1 = denseParams(p, 'fc1', pixels(s.imageShape), 2 * s.dWidth);
  const l2 = denseParams(p, 'fc2', 2 * s.dWidth, s.dWidth);
  const out = denseParams(p, 'out', s.dWidth, 1);
  // No batch norm: the whole network is one segment.
  const whole: Segment = {
    name: 'out',
    params: p.params.map((v) => v.variable),
    apply: (x) => {
      const flat = tf.reshape(x, [x.shape[0], -1]); // (B, 784)
      const h1 = leaky(dense(flat, l1)); // (B, 2w)
      const h2 = leaky(dense(h1, l2)); // (B, w)
      return dense(h2, out); // (B, 1)
    },
  };
  return {
    role: 'discriminator', arch, inputShape: s.imageShape, outputShape: [1],
    params: p.params, state: p.state, segments: [whole],
    apply: (x: tf.Tensor, _mode: ForwardMode) => tf.tidy(() => whole.apply(x)),
    dispose: () => p.dispose(),
  };
}
