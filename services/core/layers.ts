// Parameters and the few layer functions the workshop's models need, written over explicit
// variables. Initialisation follows the workshop: weights ~ truncated normal(0, 0.02), biases 0,
// batch norm gamma 1, beta 0, momentum 0.9, epsilon 1e-5 (tfjs-layers' defaults differ).
import { tf } from './tf.ts';
import { deriveSeed } from '../data/seed.ts';
import type { BatchNorm, ForwardMode, NamedVariable } from './model.ts';

export const INIT_STDDEV = 0.02;
export const BN_MOMENTUM = 0.9;
export const BN_EPSILON = 1e-5;
export const LEAK = 0.2;

/** Creates named variables in a fixed order; the n-th weight's init seed is derived from (seed, n). */
export class ParamStore {
  readonly params: NamedVariable[] = [];
  readonly state: NamedVariable[] = [];
  private count = 0;

  constructor(private readonly seed: number) {}

  weight(name: string, shape: number[]): tf.Variable {
    const s = deriveSeed(this.seed, 'init', this.count++);
    return this.add(this.params, name, tf.truncatedNormal(shape, 0, INIT_STDDEV, 'float32', s), true);
  }

  constant(name: string, shape: number[], value: number, trainable: boolean): tf.Variable {
    return this.add(trainable ? this.params : this.state, name, tf.fill(shape, value), trainable);
  }

  dispose(): void {
    for (const { variable } of [...this.params, ...this.state]) variable.dispose();
  }

  private add(list: NamedVariable[], name: string, init: tf.Tensor, trainable: boolean): tf.Variable {
    if ([...this.params, ...this.state].some((p) => p.name === name)) {
      throw new Error(`duplicate parameter name ${name}`);
    }
    // tfjs variable names are global to the engine; ours are per model, so tfjs picks its own.
    const variable = tf.variable(init, trainable);
    init.dispose();
    list.push({ name, variable });
    return variable;
  }
}

export interface Dense { kernel: tf.Variable; bias: tf.Variable }

export function denseParams(p: ParamStore, name: string, inDim: number, outDim: number): Dense {
  return { kernel: p.weight(`${name}/kernel`, [inDim, outDim]), bias: p.constant(`${name}/bias`, [outDim], 0, true) };
}

/** (B, in) -> (B, out) */
export function dense(x: tf.Tensor, d: Dense): tf.Tensor2D {
  return tf.add(tf.matMul(x as tf.Tensor2D, d.kernel as tf.Tensor2D), d.bias) as tf.Tensor2D;
}

export interface Conv { kernel: tf.Variable; bias: tf.Variable; stride: number }

/** Kernel (k, k, inC, outC). */
export function convParams(p: ParamStore, name: string, k: number, inC: number, outC: number, stride: number): Conv {
  return { kernel: p.weight(`${name}/kernel`, [k, k, inC, outC]), bias: p.constant(`${name}/bias`, [outC], 0, true), stride };
}

/** (B, H, W, inC) -> (B, H/s, W/s, outC), 'same' padding. */
export function conv(x: tf.Tensor, c: Conv): tf.Tensor4D {
  return tf.add(tf.conv2d(x as tf.Tensor4D, c.kernel as tf.Tensor4D, c.stride, 'same'), c.bias) as tf.Tensor4D;
}

/** Transposed-conv kernel is (k, k, outC, inC), as TensorFlow stores it. */
export function deconvParams(p: ParamStore, name: string, k: number, inC: number, outC: number, stride: number): Conv {
  return { kernel: p.weight(`${name}/kernel`, [k, k, outC, inC]), bias: p.constant(`${name}/bias`, [outC], 0, true), stride };
}

/** (B, H, W, inC) -> (B, H*s, W*s, outC), 'same' padding. */
export function deconv(x: tf.Tensor4D, c: Conv): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const outC = c.kernel.shape[2] as number;
  const out = tf.conv2dTranspose(x, c.kernel as tf.Tensor4D, [b, h * c.stride, w * c.stride, outC], c.stride, 'same');
  return tf.add(out, c.bias) as tf.Tensor4D;
}

export type { BatchNorm };

export function batchNormParams(p: ParamStore, name: string, channels: number): BatchNorm {
  return {
    gamma: p.constant(`${name}/gamma`, [channels], 1, true),
    beta: p.constant(`${name}/beta`, [channels], 0, true),
    movingMean: p.constant(`${name}/moving_mean`, [channels], 0, false),
    movingVar: p.constant(`${name}/moving_variance`, [channels], 1, false),
  };
}

/**
 * Batch norm over every axis but the last: (B, F) or (B, H, W, C). Written with plain ops (not
 * tf.batchNorm) so that second-order gradients (WGAN-GP) flow through the batch statistics.
 */
export function batchNorm<T extends tf.Tensor>(x: T, bn: BatchNorm, mode: ForwardMode): T {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  let mean: tf.Tensor;
  let variance: tf.Tensor;
  if (mode.training) {
    ({ mean, variance } = tf.moments(x, axes));
    if (mode.updateStats) updateMovingStats(bn, mean, variance);
    mode.observeStats?.({ mean: bn.movingMean, variance: bn.movingVar }, mean, variance);
  } else {
    mean = bn.movingMean;
    variance = bn.movingVar;
  }
  const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, BN_EPSILON)));
  return tf.add(tf.mul(xhat, bn.gamma), bn.beta) as T;
}

/** moving = 0.9 moving + 0.1 batch, for the mean and the (biased, as tf.moments) variance; also
 *  what synchronised replicas apply with the group's moments (core/parallel/sync-bn.ts). */
export function updateMovingStats(bn: BatchNorm, mean: tf.Tensor, variance: tf.Tensor): void {
  // Inside a gradient tape this assignment is off the loss's path, so no gradient flows into it.
  bn.movingMean.assign(tf.add(tf.mul(bn.movingMean, BN_MOMENTUM), tf.mul(mean, 1 - BN_MOMENTUM)));
  bn.movingVar.assign(tf.add(tf.mul(bn.movingVar, BN_MOMENTUM), tf.mul(variance, 1 - BN_MOMENTUM)));
}

/**
 * Leaky ReLU as (1 - a) relu(x) + a x. tfjs's LeakyRelu gradient goes through Greater, which has
 * no gradient, so WGAN-GP's second-order gradient would fail; Relu's goes through Step, which has.
 */
export function leaky(x: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(tf.relu(x), 1 - LEAK), tf.mul(x, LEAK));
}
