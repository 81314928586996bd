// Small classifier and GAN runs on disk for the eval-* tests: tiny models (a width-4 'quick'
// classifier, an 8-wide MLP generator), a synthetic IDX test split, real checkpoints and run.json.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildClassifier, buildDiscriminator, buildGenerator, classifierArch, ganArch, type GanArchOverrides } from '../../services/core/presets.ts';
import { Adam, type AdamHyper } from '../../services/core/optim.ts';
import { snapshotModel } from '../../services/core/snapshot.ts';
import type { ClassifierModel, Model } from '../../services/core/model.ts';
import { mulberry32 } from '../../services/data/seed.ts';
import { writeIdx } from '../../services/data/idx.ts';
import { writeCheckpoint } from '../../services/run/checkpoint.ts';

const HYPER: AdamHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 };

export async function tempDir(prefix = 'gantry-eval-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export function tinyClassifier(seed = 1): ClassifierModel {
  return buildClassifier(classifierArch('quick', { width: 4, denseUnits: 16 }), seed);
}

/** Random 28 x 28 digits-ish images, (count, 28, 28) uint8, and labels. */
export function syntheticImages(count: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const rand = mulberry32(seed);
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = rand() < 0.2 ? Math.floor(rand() * 256) : 0;
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return { images, labels };
}

/** A data directory with only an IDX test split of `count` images. */
export async function writeTestSplit(dir: string, count: number, seed = 5): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const { images, labels } = syntheticImages(count, seed);
  await writeIdx(path.join(dir, 't10k-images-idx3-ubyte'), { dims: [count, 28, 28], data: images });
  await writeIdx(path.join(dir, 't10k-labels-idx1-ubyte'), { dims: [count], data: labels });
  return dir;
}

async function writeRunJson(runDir: string, kind: 'gan' | 'classifier', startedAt: string): Promise<void> {
  await fsp.mkdir(runDir, { recursive: true });
  const info = { kind, backend: { name: 'cpu', device: 'CPU' }, startedAt, status: 'completed', timings: {} };
  await fsp.writeFile(path.join(runDir, 'run.json'), JSON.stringify(info));
}

function snapshotOf(model: Model) {
  const opt = new Adam(model.params, HYPER);
  try {
    return snapshotModel(model, opt);
  } finally {
    opt.dispose();
  }
}

/** runsDir/name with run.json (kind classifier) and one checkpoint whose config points at dataDir. */
export async function writeClassifierRun(
  runsDir: string,
  name: string,
  opts: { startedAt: string; dataDir: string; seed?: number; iteration?: number },
): Promise<{ runDir: string; checkpointDir: string }> {
  const runDir = path.join(runsDir, name);
  await writeRunJson(runDir, 'classifier', opts.startedAt);
  const model = tinyClassifier(opts.seed ?? 1);
  try {
    const checkpointDir = await writeCheckpoint(path.join(runDir, 'checkpoints'), {
      kind: 'classifier', iteration: opts.iteration ?? 10, config: { data: opts.dataDir, preset: 'quick' }, snapshots: [snapshotOf(model)],
    });
    return { runDir, checkpointDir };
  } finally {
    model.dispose();
  }
}

/** A GAN run with an MLP generator (gWidth 8) and its discriminator, checkpointed at `iteration`. */
export async function writeGanRun(
  runsDir: string, name: string, iteration = 20, seed = 3, config: Record<string, unknown> = {}, archOverrides: GanArchOverrides = {},
): Promise<{ runDir: string; checkpointDir: string }> {
  const runDir = path.join(runsDir, name);
  await writeRunJson(runDir, 'gan', '2026-01-01T00:00:00.000Z');
  const arch = ganArch('mlp', { gWidth: 8, dWidth: 8, ...archOverrides });
  const g = buildGenerator(arch, seed);
  const d = buildDiscriminator(arch, seed + 1);
  try {
    const checkpointDir = await writeCheckpoint(path.join(runDir, 'checkpoints'), {
      kind: 'gan', iteration, config: { seed, preset: 'mlp', ...config }, snapshots: [snapshotOf(g), snapshotOf(d)],
    });
    return { runDir, checkpointDir };
  } finally {
    g.dispose();
    d.dispose();
  }
}
