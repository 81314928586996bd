// One training step of each preset with gantry's real math (the nodes the services run), for the
// backend and kernel benchmarks: a GAN step is ganIteration with k = 1 (one D update, one G
// update: G(z) for the D-step, G(z') for D's upstream gradient, G(z') again under G's tape), a
// classifier step is one classifierStep. Data are synthetic images, since only time is measured.
import { tf } from '../tf.ts';
import { DiscriminatorNode } from '../gan/discriminator-node.ts';
import { GeneratorNode } from '../gan/generator-node.ts';
import type { GanMathConfig } from '../gan/config.ts';
import { classifierArch, ganArch, buildClassifier } from '../presets.ts';
import { classifierStep } from '../classifier/step.ts';
import { Adam } from '../optim.ts';
import { mulberry32 } from '../seed.ts';
import type { GanLossName } from '../losses.ts';
import { ganIteration } from '../../train/gan-trainer.ts';
import type { ImageSet } from '../../data/imageset.ts';
import { imageBatch, labelBatch } from '../../data/tensors.ts';

export const PRESETS = ['mlp', 'dcgan', 'infogan', 'workshop', 'quick'] as const;
export type PresetName = (typeof PRESETS)[number];

export interface PresetStep {
  readonly preset: PresetName;
  /** Runs one step; returns when its results have been read back (the step is complete). */
  run(): void;
  dispose(): void;
}

function syntheticImages(count: number, seed: number): ImageSet {
  const rand = mulberry32(seed);
  const images = new Uint8Array(count * 784).map(() => Math.floor(rand() * 256));
  const labels = new Uint8Array(count).map((_, i) => i % 10);
  return { source: 'synthetic', split: 'train', count, height: 28, width: 28, images, labels, numClasses: 10 };
}

function ganStep(preset: 'mlp' | 'dcgan' | 'infogan', batch: number, loss: GanLossName): PresetStep {
  const cfg: GanMathConfig = {
    arch: ganArch(preset), loss, batchSize: batch, dSteps: 1, seed: 1234,
    lrG: 2e-4, lrD: 2e-4, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0,
  };
  const g = new GeneratorNode(cfg);
  const d = new DiscriminatorNode(cfg, syntheticImages(4 * batch, 7));
  let t = 0;
  return {
    preset,
    run: () => { ganIteration(g, d, t++); },
    dispose: () => { g.dispose(); d.dispose(); },
  };
}

function classifierStepOf(preset: 'workshop' | 'quick', batch: number): PresetStep {
  const model = buildClassifier(classifierArch(preset), 99);
  const opt = new Adam(model.params, { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 });
  const data = syntheticImages(batch, 11);
  const indices = Array.from({ length: batch }, (_, i) => i);
  const x = imageBatch(data, indices);
  const labels = labelBatch(data, indices);
  let step = 0;
  return {
    preset,
    run: () => { classifierStep(model, opt, x, labels, step++); },
    dispose: () => { model.dispose(); opt.dispose(); tf.dispose([x, labels]); },
  };
}

/** A step of `preset` on the current backend (create it after initBackend). */
export function presetStep(preset: PresetName, batch: number, loss: GanLossName = 'nonsaturating'): PresetStep {
  return preset === 'workshop' || preset === 'quick' ? classifierStepOf(preset, batch) : ganStep(preset, batch, loss);
}
