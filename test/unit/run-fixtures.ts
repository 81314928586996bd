// Small deterministic snapshots and checkpoints for the run-* tests.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../../services/data/seed.ts';
import { writeCheckpoint } from '../../services/run/checkpoint.ts';
import type { ModelRole } from '../../services/run/manifest.ts';
import type { ModelSnapshot } from '../../services/run/model-snapshot.ts';
import { numel, type TensorEntry } from '../../services/run/tensor-entry.ts';

export async function tempDir(prefix = 'gantry-run-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

function tensor(name: string, shape: number[], rand: () => number): TensorEntry {
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = rand() * 2 - 1;
  return { name, shape, data };
}

/** A model with a kernel (4, 3), a bias (3), batch-norm state (3) and Adam slots for kernel and bias. */
export function makeSnapshot(role: ModelRole, seed: number, step = 7): ModelSnapshot {
  const rand = mulberry32(seed);
  const params: [string, number[]][] = [['dense1/kernel', [4, 3]], ['dense1/bias', [3]]];
  const tensors = [...params.map(([n, s]) => tensor(n, s, rand)), tensor('bn1/moving_mean', [3], rand)];
  const slots = params.flatMap(([n, s]) => [tensor(`${n}/m`, s, rand), tensor(`${n}/v`, s, rand)]);
  return {
    role,
    arch: { layers: [4, 3], activation: 'leakyRelu' },
    tensors,
    optimizer: { kind: 'adam', step, hyper: { learningRate: 0.0002, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 }, slots },
  };
}

export function ganSnapshots(seed = 1): ModelSnapshot[] {
  return [makeSnapshot('generator', seed), makeSnapshot('discriminator', seed + 100)];
}

/** Writes a GAN checkpoint under root; returns its directory. */
export async function writeGan(root: string, iteration: number, snapshots = ganSnapshots()): Promise<string> {
  return writeCheckpoint(root, { kind: 'gan', iteration, config: { seed: 1, batchSize: 64 }, snapshots });
}
