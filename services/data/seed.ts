// Deterministic randomness. Every random draw in gantry (latent z, data order, gradient-penalty
// interpolation, initial weights) takes its seed from (run seed, purpose, indices) through this
// hash, so a resumed or distributed run draws exactly what the in-process run drew, with no
// generator state to carry in checkpoints.

/** Purposes keep streams apart: the z of D-step (t, 0) never equals the z of G-step t. */
export type SeedPurpose =
  | 'init'
  | 'z-d'
  | 'z-g'
  | 'gp'
  | 'data'
  | 'split'
  | 'samples'
  | 'eval'
  | 'standing'
  | 'truncation'
  | 'z-mixture'
  | 'component';

const PURPOSE_CODE: Record<SeedPurpose, number> = {
  init: 1, 'z-d': 2, 'z-g': 3, gp: 4, data: 5, split: 6, samples: 7, eval: 8, standing: 9, truncation: 10, 'z-mixture': 11, component: 12,
};

/** murmur3's 32-bit finalizer: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uint32 seed for (runSeed, purpose, ...indices); indices are non-negative integers. */
export function deriveSeed(runSeed: number, purpose: SeedPurpose, ...indices: number[]): number {
  let h = fmix32((runSeed >>> 0) ^ 0x9e3779b9);
  h = fmix32(h ^ PURPOSE_CODE[purpose]);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0) throw new RangeError(`seed index must be a non-negative integer, got ${i}`);
    h = fmix32(h ^ (i >>> 0));
    h = fmix32(h ^ Math.floor(i / 2 ** 32));
  }
  return h;
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
