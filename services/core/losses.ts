// GAN losses over the discriminator's raw scores r = D(x) and f = D(G(z)), each (B, 1).
// With sigmoid-based losses D's "probability" is sigmoid(score); the others use the raw score.
//
//   nonsaturating (Goodfellow et al. 2014, section 3):  L_D = -log s(r) - log(1 - s(f)),  L_G = -log s(f)
//   minimax (the paper's value function):               L_D as above,                     L_G = log(1 - s(f))
//   lsgan (Mao et al. 2017, a=0 b=1 c=1):               L_D = (r-1)^2/2 + f^2/2,          L_G = (f-1)^2/2
//   wgan-gp (Gulrajani et al. 2017):                    L_D = f - r + lambda (|grad D(x^)| - 1)^2, L_G = -f
//   hinge (Lim & Ye 2017, Miyato et al. 2018):          L_D = relu(1-r) + relu(1+f),      L_G = -f
// Every term is averaged over the batch. -log s(x) = softplus(-x) and log(1 - s(x)) = -softplus(x)
// keep the sigmoid losses finite for large scores.
import { tf } from './tf.ts';

import { GAN_LOSSES, type GanLossName } from './catalog.ts';

export { GAN_LOSSES, type GanLossName };

export interface GanLoss {
  readonly name: GanLossName;
  /** Whether D's reported mean output is sigmoid(score) (probability) or the raw score. */
  readonly probabilistic: boolean;
  /** Whether the D loss adds the WGAN-GP gradient penalty. */
  readonly gradientPenalty: boolean;
  discriminator(real: tf.Tensor, fake: tf.Tensor): tf.Scalar;
  generator(fake: tf.Tensor): tf.Scalar;
}

const mean = (x: tf.Tensor): tf.Scalar => tf.mean(x);

const sigmoidD = (real: tf.Tensor, fake: tf.Tensor): tf.Scalar =>
  tf.add(mean(tf.softplus(tf.neg(real))), mean(tf.softplus(fake)));

const LOSSES: Record<GanLossName, GanLoss> = {
  nonsaturating: {
    name: 'nonsaturating', probabilistic: true, gradientPenalty: false,
    discriminator: sigmoidD,
    generator: (fake) => mean(tf.softplus(tf.neg(fake))),
  },
  minimax: {
    name: 'minimax', probabilistic: true, gradientPenalty: false,
    discriminator: sigmoidD,
    generator: (fake) => tf.neg(mean(tf.softplus(fake))),
  },
  lsgan: {
    name: 'lsgan', probabilistic: false, gradientPenalty: false,
    discriminator: (real, fake) => tf.mul(tf.add(mean(tf.square(tf.sub(real, 1))), mean(tf.square(fake))), 0.5),
    generator: (fake) => tf.mul(mean(tf.square(tf.sub(fake, 1))), 0.5),
  },
  'wgan-gp': {
    name: 'wgan-gp', probabilistic: false, gradientPenalty: true,
    discriminator: (real, fake) => tf.sub(mean(fake), mean(real)),
    generator: (fake) => tf.neg(mean(fake)),
  },
  hinge: {
    name: 'hinge', probabilistic: false, gradientPenalty: false,
    discriminator: (real, fake) => tf.add(mean(tf.relu(tf.sub(1, real))), mean(tf.relu(tf.add(1, fake)))),
    generator: (fake) => tf.neg(mean(fake)),
  },
};

export function ganLoss(name: GanLossName): GanLoss {
  return LOSSES[name];
}

/** The mean of what D "says" about a batch: probability for sigmoid losses, raw score otherwise. */
export function meanOutput(loss: GanLoss, scores: tf.Tensor): tf.Scalar {
  return loss.probabilistic ? mean(tf.sigmoid(scores)) : mean(scores);
}

/**
 * WGAN-GP penalty lambda * E[(||dD(x^)/dx^||_2 - 1)^2] on per-sample interpolates
 * x^ = e * real + (1 - e) * fake, e ~ U(0, 1) of shape (B, 1, 1, 1). `critic` must be
 * differentiable twice (it is called inside the outer gradient tape).
 * With `slice` (a data-parallel replica holding rows [start, start + b) of a global batch of
 * globalBatch rows): e is those rows of the global batch's draw, and the result is this slice's
 * share lambda * sum_rows (...)^2 / globalBatch, so the shares of all replicas add up to the penalty.
 */
export function gradientPenalty(
  critic: (x: tf.Tensor) => tf.Tensor,
  real: tf.Tensor4D,
  fake: tf.Tensor4D,
  lambda: number,
  seed: number,
  slice?: { start: number; globalBatch: number },
): tf.Scalar {
  const b = real.shape[0];
  const drawn = tf.randomUniform([slice ? slice.globalBatch : b, 1, 1, 1], 0, 1, 'float32', seed);
  const e = slice ? tf.slice(drawn, slice.start, b) : drawn;
  const interp = tf.add(tf.mul(e, real), tf.mul(tf.sub(1, e), fake)) as tf.Tensor4D; // (B, 28, 28, 1)
  const grad = tf.grad((x: tf.Tensor) => tf.sum(critic(x)))(interp); // (B, 28, 28, 1)
  const norm = tf.sqrt(tf.add(tf.sum(tf.square(grad), [1, 2, 3]), 1e-12)); // (B,)
  const perSample = tf.square(tf.sub(norm, 1)); // (B,)
  return tf.mul(slice ? tf.div(tf.sum(perSample), slice.globalBatch) : mean(perSample), lambda);
}

/** Softmax cross-entropy through tfjs's fused logits op; labels are class indices (B,). */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const onehot = tf.oneHot(labels, logits.shape[1]);
  return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
}
