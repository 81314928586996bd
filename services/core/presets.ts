// Named architectures with their sizes as options. An arch object is plain JSON: it is written
// into every checkpoint, and buildModelFromArch turns it back into a model.
import { z } from 'zod';
import type { ClassifierModel, Model, ModelRole } from './model.ts';
import { mlpDiscriminator, mlpGenerator } from './models/mlp-gan.ts';
import { convDiscriminator, convGenerator } from './models/conv-gan.ts';
import { convClassifier } from './models/classifier.ts';
import { SnapshotMismatchError } from './errors.ts';

import { GAN_PRESETS, CLASSIFIER_PRESETS, type GanPreset, type ClassifierPreset } from './catalog.ts';

export { GAN_PRESETS, CLASSIFIER_PRESETS, type GanPreset, type ClassifierPreset };

const imageShape = z.tuple([z.literal(28), z.literal(28), z.literal(1)]);
const size = (max: number) => z.number().int().min(1).max(max);

export const ganArchSchema = z.strictObject({
  family: z.literal('gan'),
  preset: z.enum(GAN_PRESETS),
  zDim: size(1024),
  gWidth: size(1024),
  dWidth: size(1024),
  /** Conv layers of the convolutional discriminator: 2 (the workshop's), 3 (a third, 7x7 -> 4x4,
   * whose units see the whole digit), 4 or 5 (then 1-2 stride-1 3x3 convs at 4x4). Absent in
   * checkpoints written before it: 2. */
  dLayers: z.number().int().min(2).max(5).default(2),
  /** Conv layers of the convolutional generator: 2 (the workshop's two deconvs), 3 (first a
   * stride-1 5x5 conv at 7x7, 2w -> 2w, batch norm, ReLU), 4 (and a stride-1 3x3 conv at 14x14,
   * w -> w, batch norm, ReLU, between the deconvs), 5 (two of those at 14x14) or 6 (and the last
   * deconv makes w/2 maps at 28x28, batch norm, ReLU, then a stride-1 3x3 conv makes the image).
   * Absent in older checkpoints: 2. */
  gLayers: z.number().int().min(2).max(6).default(2),
  /** Kernel size of that 7x7 conv (gLayers 3): 5, or 3 (a third of the cost). Absent in older
   * checkpoints: 5. */
  gKernel: z.union([z.literal(3), z.literal(5)]).default(5),
  /** The latent prior (latents.ts): 0, z ~ N(0, I); K >= 2, a mixture of K unit Gaussians with
   * fixed means drawn from N(0, zSpread^2 I). Absent in older checkpoints: 0. */
  zMixture: z.number().int().min(0).max(1024)
    .refine((k) => k !== 1, { message: 'expected 0 (z ~ N(0, I)) or 2..1024 mixture components' }).default(0),
  /** Standard deviation of the mixture's means per latent dimension. Absent: 1. */
  zSpread: z.number().min(0.1).max(10).default(1),
  imageShape,
}).refine((a) => a.preset !== 'mlp' || a.dLayers === 2, {
  path: ['dLayers'], message: 'more than two discriminator conv layers need a convolutional preset (dcgan, infogan); mlp has none',
}).refine((a) => a.preset !== 'mlp' || a.gLayers === 2, {
  path: ['gLayers'], message: 'more than two generator conv layers need a convolutional preset (dcgan, infogan); mlp has none',
}).refine((a) => a.gKernel === 5 || a.gLayers >= 3, {
  path: ['gKernel'], message: 'gKernel sizes the third generator conv layer: it needs gLayers 3 or more',
});
export type GanArch = z.infer<typeof ganArchSchema>;

export const classifierArchSchema = z.strictObject({
  family: z.literal('classifier'),
  preset: z.enum(CLASSIFIER_PRESETS),
  width: size(1024),
  denseUnits: size(8192),
  numClasses: z.literal(10),
  imageShape,
});
export type ClassifierArch = z.infer<typeof classifierArchSchema>;

const GAN_DEFAULTS: Record<GanPreset, Pick<GanArch, 'zDim' | 'gWidth' | 'dWidth'>> = {
  mlp: { zDim: 100, gWidth: 256, dWidth: 256 },
  dcgan: { zDim: 100, gWidth: 64, dWidth: 64 },
  infogan: { zDim: 62, gWidth: 64, dWidth: 64 },
};

const CLASSIFIER_DEFAULTS: Record<ClassifierPreset, Pick<ClassifierArch, 'width' | 'denseUnits'>> = {
  workshop: { width: 64, denseUnits: 1024 },
  quick: { width: 32, denseUnits: 128 },
};

export type GanArchOverrides = Partial<Pick<GanArch, 'zDim' | 'gWidth' | 'dWidth' | 'dLayers' | 'gLayers' | 'gKernel' | 'zMixture' | 'zSpread'>>;

export function ganArch(preset: GanPreset, overrides: GanArchOverrides = {}): GanArch {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return ganArchSchema.parse({ family: 'gan', preset, ...GAN_DEFAULTS[preset], ...defined, imageShape: [28, 28, 1] });
}

export function classifierArch(
  preset: ClassifierPreset,
  overrides: Partial<Pick<ClassifierArch, 'width' | 'denseUnits'>> = {},
): ClassifierArch {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return classifierArchSchema.parse({
    family: 'classifier', preset, ...CLASSIFIER_DEFAULTS[preset], ...defined, numClasses: 10, imageShape: [28, 28, 1],
  });
}

function convSizes(arch: GanArch) {
  const extra = arch.preset === 'infogan';
  return {
    zDim: arch.zDim, gWidth: arch.gWidth, dWidth: arch.dWidth, dLayers: arch.dLayers, gLayers: arch.gLayers, gKernel: arch.gKernel, imageShape: arch.imageShape,
    gDense: extra ? 16 * arch.gWidth : 0, dDense: extra ? 16 * arch.dWidth : 0,
  };
}

export function buildGenerator(arch: GanArch, seed: number): Model {
  return arch.preset === 'mlp' ? mlpGenerator(arch, arch, seed) : convGenerator(convSizes(arch), arch, seed);
}

export function buildDiscriminator(arch: GanArch, seed: number): Model {
  return arch.preset === 'mlp' ? mlpDiscriminator(arch, arch, seed) : convDiscriminator(convSizes(arch), arch, seed);
}

export function buildClassifier(arch: ClassifierArch, seed: number): ClassifierModel {
  return convClassifier(arch, arch, seed);
}

/** Rebuilds the model a checkpoint describes (weights are then restored from the snapshot). */
export function buildModelFromArch(role: ModelRole, arch: Record<string, unknown>, seed = 0): Model {
  if (role === 'classifier') {
    const parsed = classifierArchSchema.safeParse(arch);
    if (!parsed.success) throw new SnapshotMismatchError(`classifier arch is invalid: ${parsed.error.message}`);
    return buildClassifier(parsed.data, seed);
  }
  const parsed = ganArchSchema.safeParse(arch);
  if (!parsed.success) throw new SnapshotMismatchError(`${role} arch is invalid: ${parsed.error.message}`);
  return role === 'generator' ? buildGenerator(parsed.data, seed) : buildDiscriminator(parsed.data, seed);
}
