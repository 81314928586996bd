// Training steps over the op-level preset graphs (graphs.ts): the D step, the G step and the
// classifier step, each returning the loss and the gradients of the updated network. Kernel tests
// compare these gradients across backends; the benchmarks time them with an optimizer update.
import { tf } from '../tf.ts';
import type { ClassifierGraph, GanGraph, Params } from './graphs.ts';
import { seededNormal } from './graphs.ts';

export type GraphLoss = 'nsgan' | 'lsgan' | 'hinge' | 'wgan-gp';
export const GRAPH_LOSSES: readonly GraphLoss[] = ['nsgan', 'lsgan', 'hinge', 'wgan-gp'];

export interface StepResult {
  loss: tf.Scalar;
  grads: Record<string, tf.Tensor>;
}

const GP_WEIGHT = 10;

/** variableGrads keys gradients by the variable's unique name; re-key them by parameter name. */
function byParamName(p: Params, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(p)) out[name] = grads[v.name];
  return out;
}

function sigmoidCE(logits: tf.Tensor, label: 0 | 1): tf.Scalar {
  const labels = label === 1 ? tf.onesLike(logits) : tf.zerosLike(logits);
  return tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
}

/** Penalty (||dD/dx̂||_2 - 1)^2 averaged over the batch; second order in D's parameters. */
function gradientPenalty(g: GanGraph, dp: Params, real: tf.Tensor, fake: tf.Tensor, seed: number): tf.Scalar {
  const b = real.shape[0];
  const eps = tf.tensor(seededNormal(b, seed).map((v) => 0.5 + 0.25 * Math.tanh(v)), [b, 1, 1, 1]);
  const xHat = tf.add(tf.mul(eps, real), tf.mul(tf.sub(1, eps), fake)); // (B, 28, 28, 1)
  const dx = tf.grad((x: tf.Tensor) => tf.sum(g.d.apply(dp, x)))(xHat);
  const norm = tf.sqrt(tf.add(tf.sum(tf.square(tf.reshape(dx, [b, -1])), 1), 1e-12)); // (B,)
  return tf.mean(tf.square(tf.sub(norm, 1)));
}

function dLoss(g: GanGraph, dp: Params, real: tf.Tensor, fake: tf.Tensor, loss: GraphLoss, seed: number): tf.Scalar {
  const dReal = g.d.apply(dp, real); // (B, 1)
  const dFake = g.d.apply(dp, fake);
  switch (loss) {
    case 'nsgan':
      return tf.add(sigmoidCE(dReal, 1), sigmoidCE(dFake, 0));
    case 'lsgan':
      return tf.add(tf.mean(tf.square(tf.sub(dReal, 1))), tf.mean(tf.square(dFake)));
    case 'hinge':
      return tf.add(tf.mean(tf.relu(tf.sub(1, dReal))), tf.mean(tf.relu(tf.add(1, dFake))));
    case 'wgan-gp': {
      const gp = gradientPenalty(g, dp, real, fake, seed);
      return tf.add(tf.sub(tf.mean(dFake), tf.mean(dReal)), tf.mul(GP_WEIGHT, gp));
    }
  }
}

function gLoss(dFake: tf.Tensor, loss: GraphLoss): tf.Scalar {
  switch (loss) {
    case 'nsgan': return sigmoidCE(dFake, 1);
    case 'lsgan': return tf.mean(tf.square(tf.sub(dFake, 1)));
    case 'hinge':
    case 'wgan-gp': return tf.neg(tf.mean(dFake)) as tf.Scalar;
  }
}

/** D step: gradients of L_D wrt D's parameters; G(z) is computed without a gradient. */
export function ganDGrads(g: GanGraph, gp: Params, dp: Params, real: tf.Tensor, z: tf.Tensor,
  loss: GraphLoss, seed = 1): StepResult {
  return tf.tidy(() => {
    const fake = g.g.apply(gp, z);
    const { value, grads } = tf.variableGrads(() => dLoss(g, dp, real, fake, loss, seed), Object.values(dp));
    return { loss: value, grads: byParamName(dp, grads) };
  });
}

/** G step: gradients of L_G wrt G's parameters, back-propagated through D. */
export function ganGGrads(g: GanGraph, gp: Params, dp: Params, z: tf.Tensor, loss: GraphLoss): StepResult {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => gLoss(g.d.apply(dp, g.g.apply(gp, z)), loss), Object.values(gp));
    return { loss: value, grads: byParamName(gp, grads) };
  });
}

/** Softmax cross-entropy of the logits against integer labels (B,). */
export function classifierGrads(c: ClassifierGraph, p: Params, x: tf.Tensor, labels: tf.Tensor1D): StepResult {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, c.classes);
    const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(onehot, c.net.apply(p, x)) as tf.Scalar;
    const { value, grads } = tf.variableGrads(f, Object.values(p));
    return { loss: value, grads: byParamName(p, grads) };
  });
}

/** Reproducible step inputs: real images in [-1, 1], z ~ N(0, 1), labels in [0, classes). */
export function stepInputs(batch: number, zDim: number, seed: number): { real: tf.Tensor4D; z: tf.Tensor2D; labels: tf.Tensor1D } {
  const real = tf.tensor4d(seededNormal(batch * 784, seed).map(Math.tanh), [batch, 28, 28, 1]);
  const z = tf.tensor2d(seededNormal(batch * zDim, seed + 1), [batch, zDim]);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7 + seed) % 10), 'int32');
  return { real, z, labels };
}
