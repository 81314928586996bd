// The latents that samples are drawn from: z ~ N(0, 1), or with a truncation threshold t > 0
// the standard normal truncated to [-t, t] in every component (Brock et al. 2019, BigGAN,
// section 3.1, "the truncation trick"). Truncation trades variety for fidelity: latents near the
// mode give the generator's most typical, best-formed images, and fewer of the rare ones. It is a
// choice of the sampler (grids, evaluations, `gantry eval` and `gantry sample`); training always
// draws from N(0, 1), and so do standing statistics, which describe the weights.
//
// Components outside [-t, t] are redrawn, each round from its own seed, until none is left: the
// exact truncated normal, and a pure function of (seed, t).
import { tf } from './tf.ts';
import { deriveSeed } from './seed.ts';
import { isTruncation, TRUNCATION_EXPECTED } from './catalog.ts';

const MAX_ROUNDS = 500;

/** (n, zDim) latents from `seed`: N(0, 1), or truncated to [-t, t] when truncation t > 0. */
export function sampleLatents(n: number, zDim: number, seed: number, truncation = 0): tf.Tensor2D {
  if (!isTruncation(truncation)) throw new RangeError(`truncation: expected ${TRUNCATION_EXPECTED}, found ${truncation}`);
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
