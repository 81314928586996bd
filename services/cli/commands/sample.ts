// `gantry sample --checkpoint DIR --out FILE.png [--n 64] [--cols 8] [--seed S]`: draws a grid
// from a GAN checkpoint's generator in inference mode (batch-norm moving averages).
import type { Command } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../../core/catalog.ts';
import { addFlags, type FlagSpec } from '../flags.ts';
import { UsageError } from '../errors.ts';

const FLAGS: FlagSpec[] = [
  { flag: 'n', key: 'n', kind: 'int', description: 'number of samples (default 64)' },
  { flag: 'cols', key: 'cols', kind: 'int', description: 'images per row (default 8)' },
  { flag: 'seed', key: 'seed', kind: 'int', description: "z seed (default: the run's fixed sample seed)" },
  { flag: 'backend', key: 'backend', kind: 'string', choices: BACKEND_CHOICES, description: 'math backend (default auto)' },
];

interface SampleOptions { checkpoint: string; out: string; n?: number; cols?: number; seed?: number; backend?: BackendChoice }

async function sample(o: SampleOptions): Promise<void> {
  const n = o.n ?? 64;
  const cols = o.cols ?? 8;
  if (n < 1 || n > 4096) throw new UsageError(`--n must be in 1..4096, got ${n}`);
  if (cols < 1) throw new UsageError(`--cols must be >= 1, got ${cols}`);
  // Heavy modules load only when the command runs.
  const { tf } = await import('../../core/tf.ts');
  const { initBackend } = await import('../../core/backend/select.ts');
  const { INFER } = await import('../../core/model.ts');
  const { buildModelFromArch } = await import('../../core/presets.ts');
  const { restoreModel } = await import('../../core/snapshot.ts');
  const { deriveSeed } = await import('../../core/seed.ts');
  const { readCheckpoint } = await import('../../run/checkpoint.ts');
  const { resolveCheckpoint } = await import('../../run/checkpoint-list.ts');
  const { writeGrid } = await import('../../run/png-grid.ts');
  await initBackend(o.backend ?? 'auto');
  const dir = await resolveCheckpoint(o.checkpoint);
  const ckpt = await readCheckpoint(dir);
  const snap = ckpt.models.get('generator');
  if (!snap) throw new UsageError(`${dir} holds no generator (it is a ${ckpt.manifest.kind} checkpoint)`);
  const g = buildModelFromArch('generator', snap.arch);
  restoreModel(g, undefined, snap);
  const runSeed = Number((ckpt.manifest.config as { seed?: number }).seed ?? 0);
  const seed = o.seed ?? deriveSeed(runSeed, 'samples', 0);
  const images = tf.tidy(() => {
    const z = tf.randomNormal([n, g.inputShape[0]], 0, 1, 'float32', seed);
    return Float32Array.from(g.apply(z, INFER).dataSync() as Float32Array); // (n, 28, 28, 1)
  });
  g.dispose();
  await writeGrid(o.out, images, { n, height: 28, width: 28, cols });
  process.stdout.write(`${n} samples from ${dir} (iteration ${ckpt.manifest.iteration}) -> ${o.out}\n`);
}

export function register(program: Command): void {
  const cmd = addFlags(
    program
      .command('sample')
      .description('write a PNG grid of samples from a GAN checkpoint')
      .requiredOption('--checkpoint <dir>', 'a checkpoint, or a run directory (its latest checkpoint)')
      .requiredOption('--out <file.png>', 'PNG file to write'),
    FLAGS,
  );
  cmd.action(async () => sample(cmd.opts<SampleOptions>()));
}
