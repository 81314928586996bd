// The names users type: presets, losses, backends. A leaf module (no tfjs import), so the CLI can
// build its --help and validate flags without loading TensorFlow.js.
export const GAN_PRESETS = ['mlp', 'dcgan', 'infogan'] as const;
export type GanPreset = (typeof GAN_PRESETS)[number];

export const CLASSIFIER_PRESETS = ['workshop', 'quick'] as const;
export type ClassifierPreset = (typeof CLASSIFIER_PRESETS)[number];

export const GAN_LOSSES = ['nonsaturating', 'minimax', 'lsgan', 'wgan-gp', 'hinge'] as const;
export type GanLossName = (typeof GAN_LOSSES)[number];

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Which weights of a generator to load: the moving average when the run kept one (gEma > 0), or the raw ones. */
export const GENERATOR_WEIGHTS = ['average', 'raw'] as const;
export type GeneratorWeightChoice = (typeof GENERATOR_WEIGHTS)[number];

/**
 * Truncation of the sampling latents (core/latents.ts): 0 for none, or a threshold in standard
 * deviations within these bounds (below 0.25 almost every draw is rejected; above 5 less than 1e-6
 * of the mass is cut).
 */
export const TRUNCATION_BOUNDS = { min: 0.25, max: 5 } as const;
export const TRUNCATION_EXPECTED = `0 (no truncation) or a threshold in ${TRUNCATION_BOUNDS.min}..${TRUNCATION_BOUNDS.max} standard deviations`;
export function isTruncation(t: number): boolean {
  return t === 0 || (t >= TRUNCATION_BOUNDS.min && t <= TRUNCATION_BOUNDS.max);
}
