// The latents that a generator maps to images, drawn from its prior (the arch carries it):
//
// - z ~ N(0, I) in zDim dimensions (zMixture 0, every preset's default);
// - with zMixture K >= 2, a mixture of K unit Gaussians N(mu_k, I), k uniform: a Gaussian-mixture
//   prior as in DeLiGAN (Gurumurthy et al. 2017) with fixed means, drawn once from
//   N(0, zSpread^2 I) from a seed of their own (a function of K and zDim alone, so every run,
//   checkpoint and command with the same arch draws from the same prior). A unimodal N(0, I)
//   forces a continuous G to spend some of its latent mass on the transitions between the
//   data's modes (MNIST's digits), which come out as blends of two digits; the low-density gaps
//   between the components give G somewhere to put those transitions.
//
// With a truncation threshold t > 0 each component's unit noise is the standard normal truncated
// to [-t, t] (Brock et al. 2019, BigGAN, section 3.1, "the truncation trick"). Truncation trades
// variety for fidelity: latents near the mode give the generator's most typical, best-formed
// images, and fewer of the rare ones. It is a choice of the sampler (grids, evaluations,
// `gantry eval` and `gantry sample`); training always draws from the untruncated prior, and so do
// standing statistics, which describe the weights.
//
// Components outside [-t, t] are redrawn, each round from its own seed, until none is left: the
// exact truncated normal, and a pure function of (seed, t).
import { tf } from './tf.ts';
import { deriveSeed, mulberry32 } from '../data/seed.ts';
import { isTruncation, TRUNCATION_EXPECTED } from './catalog.ts';
import type { Model } from './model.ts';

const MAX_ROUNDS = 500;
/** The means' seed: fixed, so the prior is a function of (zMixture, zDim, zSpread) alone. */
const MIXTURE_SEED = 0x6d697820;

/** What a generator's latents are drawn from (a GanArch is one). */
export interface LatentPrior {
  zDim: number;
  /** Components of a Gaussian-mixture prior; 0 or absent: N(0, I). */
  zMixture?: number;
  /** Standard deviation of the mixture's means per dimension; absent: 1. */
  zSpread?: number;
}

/** The prior of a built generator: its input size and its arch's mixture, if any. */
export function latentPriorOf(model: Model): LatentPrior {
  const { zMixture, zSpread } = model.arch;
  return {
    zDim: model.inputShape[0],
    zMixture: typeof zMixture === 'number' ? zMixture : 0,
    zSpread: typeof zSpread === 'number' ? zSpread : 1,
  };
}

const meansCache = new Map<string, Float32Array>();

/** The (K, zDim) means of a mixture prior, row-major: zSpread * N(0, 1) from the fixed seed. */
export function mixtureMeans(prior: LatentPrior): Float32Array {
  const k = prior.zMixture ?? 0;
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`zMixture: expected an integer >= 2 for a mixture prior, found ${k}`);
  const spread = prior.zSpread ?? 1;
  const key = `${k}/${prior.zDim}/${spread}`;
  let means = meansCache.get(key);
  if (!means) {
    const drawn = tf.randomNormal([k, prior.zDim], 0, spread, 'float32', deriveSeed(MIXTURE_SEED, 'z-mixture', k, prior.zDim));
    means = Float32Array.from(drawn.dataSync() as Float32Array);
    drawn.dispose();
    meansCache.set(key, means);
  }
  return means;
}

/** The mixture component of each of n latents drawn from `seed`: uniform over 0..k-1. */
export function mixtureComponents(n: number, k: number, seed: number): Int32Array {
  const next = mulberry32(deriveSeed(seed, 'component'));
  return Int32Array.from({ length: n }, () => Math.min(k - 1, Math.floor(next() * k)));
}

/** (n, zDim) unit noise from `seed`: N(0, 1), or truncated to [-t, t] when truncation t > 0. */
function unitNoise(n: number, zDim: number, seed: number, truncation: number): tf.Tensor2D {
  let z = tf.randomNormal([n, zDim], 0, 1, 'float32', seed) as tf.Tensor2D;
  if (truncation === 0) return z;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const outside = tf.tidy(() => tf.greater(tf.abs(z), truncation));
    const left = tf.tidy(() => tf.sum(tf.cast(outside, 'int32')).dataSync()[0]);
    if (left === 0) {
      outside.dispose();
      return z;
    }
    const next = tf.tidy(() => tf.where(outside, tf.randomNormal([n, zDim], 0, 1, 'float32', deriveSeed(seed, 'truncation', round)), z)) as tf.Tensor2D;
    tf.dispose([outside, z]);
    z = next;
  }
  // (1 - P(|z| < 0.25))^500 < 1e-48 per component: unreachable in practice, but never loop forever.
  const clipped = tf.clipByValue(z, -truncation, truncation) as tf.Tensor2D;
  z.dispose();
  return clipped;
}

/**
 * (n, zDim) latents from `seed` and the prior (a latent size alone means N(0, I)), with each
 * component's unit noise truncated to [-t, t] when truncation t > 0. With N(0, I) and no
 * truncation this is exactly tf.randomNormal([n, zDim], 0, 1, 'float32', seed).
 */
export function sampleLatents(n: number, prior: LatentPrior | number, seed: number, truncation = 0): tf.Tensor2D {
  if (!isTruncation(truncation)) throw new RangeError(`truncation: expected ${TRUNCATION_EXPECTED}, found ${truncation}`);
  const p = typeof prior === 'number' ? { zDim: prior } : prior;
  const noise = unitNoise(n, p.zDim, seed, truncation);
  const k = p.zMixture ?? 0;
  if (k === 0) return noise;
  const means = mixtureMeans(p);
  const components = mixtureComponents(n, k, seed);
  return tf.tidy(() => {
    const mu = tf.gather(tf.tensor2d(means, [k, p.zDim]), tf.tensor1d(components, 'int32'));
    const z = tf.add(noise, mu) as tf.Tensor2D;
    noise.dispose();
    return z;
  });
}

/**
 * (n, zDim) latents of one mixture component: its mean plus unit noise from `seed` (truncated to
 * [-t, t] when truncation t > 0). What `gantry eval --components` scores each component with.
 */
export function componentLatents(n: number, prior: LatentPrior, component: number, seed: number, truncation = 0): tf.Tensor2D {
  if (!isTruncation(truncation)) throw new RangeError(`truncation: expected ${TRUNCATION_EXPECTED}, found ${truncation}`);
  const k = prior.zMixture ?? 0;
  if (k < 2) throw new RangeError(`component: the prior is N(0, I) (zMixture ${k}); it has no mixture components`);
  if (!Number.isInteger(component) || component < 0 || component >= k) throw new RangeError(`component: expected an integer in 0..${k - 1}, found ${component}`);
  const mean = mixtureMeans(prior).subarray(component * prior.zDim, (component + 1) * prior.zDim);
  const noise = unitNoise(n, prior.zDim, seed, truncation);
  return tf.tidy(() => {
    const z = tf.add(noise, tf.tensor2d(mean, [1, prior.zDim])) as tf.Tensor2D;
    noise.dispose();
    return z;
  });
}
