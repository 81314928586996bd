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
