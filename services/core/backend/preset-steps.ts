// The presets' training steps with gantry's real math (the nodes the services run), on synthetic
// data, for the backend and kernel benchmarks (bench/backends.ts, bench/kernels.ts) and the kernel
// tests (test/unit/kernels-*.test.ts): one description of each model, the one training uses.
//   GAN step: ganIteration with k = 1 (one D update, one G update: G(z) for the D-step, then
//             L_G through D and G on one tape, as the in-process trainer runs it).
//   classifier step: one classifierStep (softmax cross-entropy, Adam).
// ganNodes and classifierSetup build the same models for callers that need the gradients of a
// step rather than its time (DiscriminatorNode.stepGradients, GeneratorNode.objectiveGradients,
// classifierGrads). Only time and agreement between backends are measured, so the images are
// uniform random bytes (B, 28, 28, 1) scaled to [-1, 1] like MNIST.
import { tf } from '../tf.ts';
import { DiscriminatorNode } from '../gan/discriminator-node.ts';
import { GeneratorNode } from '../gan/generator-node.ts';
import { ganIteration } from '../gan/iteration.ts';
import type { GanMathConfig } from '../gan/config.ts';
import {
  CLASSIFIER_PRESETS, GAN_PRESETS, buildClassifier, classifierArch, ganArch,
  type ClassifierPreset, type GanArchOverrides, type GanPreset,
} from '../presets.ts';
import type { ClassifierModel } from '../model.ts';
import { classifierStep } from '../classifier/step.ts';
import { Adam } from '../optim.ts';
import { mulberry32 } from '../../data/seed.ts';
import type { GanLossName } from '../losses.ts';
import type { ImageSet } from '../../data/imageset.ts';
import { imageBatch, labelBatch } from '../batches.ts';

export const PRESETS = [...GAN_PRESETS, ...CLASSIFIER_PRESETS] as const;
export type PresetName = (typeof PRESETS)[number];

export interface PresetStep {
  readonly preset: PresetName;
  /** Runs one step; returns when its results have been read back (the step is complete). */
  run(): void;
  dispose(): void;
}

/** A GAN preset as `gantry train gan` builds it: the preset's arch with overrides, one loss. */
export interface GanStepSpec {
  preset: GanPreset;
  /** Images per D-step and per G-step. */
  batch: number;
  /** Default nonsaturating. */
  loss?: GanLossName;
  /** Sizes and variants (zDim, gWidth, dLayers, gLayers, zMixture, ...); default the preset's. */
  arch?: GanArchOverrides;
}

const isClassifier = (p: PresetName): p is ClassifierPreset => (CLASSIFIER_PRESETS as readonly string[]).includes(p);

function syntheticImages(count: number, seed: number): ImageSet {
  const rand = mulberry32(seed);
  const images = new Uint8Array(count * 784).map(() => Math.floor(rand() * 256));
  const labels = new Uint8Array(count).map((_, i) => i % 10);
  return { source: 'synthetic', split: 'train', count, height: 28, width: 28, images, labels, numClasses: 10 };
}

/** G and D of a GAN preset on the current backend, with the trainer's default hyper-parameters (k = 1). Caller disposes both. */
export function ganNodes(spec: GanStepSpec): { g: GeneratorNode; d: DiscriminatorNode } {
  const cfg: GanMathConfig = {
    arch: ganArch(spec.preset, spec.arch), loss: spec.loss ?? 'nonsaturating', batchSize: spec.batch, dSteps: 1, seed: 1234,
    lrG: 2e-4, lrD: 2e-4, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0,
  };
  const g = new GeneratorNode(cfg);
  const d = new DiscriminatorNode(cfg, syntheticImages(4 * spec.batch, 7));
  return { g, d };
}

export interface ClassifierSetup {
  readonly model: ClassifierModel;
  readonly optimizer: Adam;
  /** (B, 28, 28, 1) in [-1, 1] */
  readonly x: tf.Tensor4D;
  /** (B,) int32 class ids */
  readonly labels: tf.Tensor1D;
  dispose(): void;
}

/** A classifier preset, its Adam and one batch, on the current backend. */
export function classifierSetup(preset: ClassifierPreset, batch: number): ClassifierSetup {
  const model = buildClassifier(classifierArch(preset), 99);
  const optimizer = new Adam(model.params, { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 });
  const data = syntheticImages(batch, 11);
  const indices = Array.from({ length: batch }, (_, i) => i);
  const x = imageBatch(data, indices);
  const labels = labelBatch(data, indices);
  return { model, optimizer, x, labels, dispose: () => { model.dispose(); optimizer.dispose(); tf.dispose([x, labels]); } };
}

/** A step of `preset` on the current backend (create it after initBackend). */
export function presetStep(preset: PresetName, batch: number, loss: GanLossName = 'nonsaturating', arch?: GanArchOverrides): PresetStep {
  if (isClassifier(preset)) {
    const c = classifierSetup(preset, batch);
    let step = 0;
    return { preset, run: () => { classifierStep(c.model, c.optimizer, c.x, c.labels, step++); }, dispose: () => c.dispose() };
  }
  const { g, d } = ganNodes({ preset, batch, loss, arch });
  let t = 0;
  return { preset, run: () => { ganIteration(g, d, t++); }, dispose: () => { g.dispose(); d.dispose(); } };
}
