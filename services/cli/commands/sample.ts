// `gantry sample --checkpoint DIR --out FILE.png [--n 64] [--cols 8] [--seed S] [--weights W] [--truncation T]`: draws
// a grid from a GAN checkpoint's generator in inference mode (batch-norm moving averages), with the
// moving average of its weights when the run kept one (--g-ema) unless --weights raw, and from
// truncated latents with --truncation T (default: the run's setting).
import type { Command } from 'commander';
import { BACKEND_CHOICES, GENERATOR_WEIGHTS, isTruncation, TRUNCATION_EXPECTED, type BackendChoice, type GeneratorWeightChoice } from '../../core/catalog.ts';
import { addFlags, type FlagSpec } from '../flags.ts';
import { UsageError } from '../errors.ts';

const FLAGS: FlagSpec[] = [
  { flag: 'n', key: 'n', kind: 'int', description: 'number of samples (default 64)' },
  { flag: 'cols', key: 'cols', kind: 'int', description: 'images per row (default 8)' },
  { flag: 'seed', key: 'seed', kind: 'int', description: "z seed (default: the run's fixed sample seed)" },
  { flag: 'backend', key: 'backend', kind: 'string', choices: BACKEND_CHOICES, description: 'math backend (default auto)' },
  { flag: 'weights', key: 'weights', kind: 'string', choices: GENERATOR_WEIGHTS, description: "'average' (the weights' moving average when the run kept one; default) or 'raw'" },
  { flag: 'truncation', key: 'truncation', kind: 'number', description: `z from N(0, 1) truncated to [-t, t]: ${TRUNCATION_EXPECTED} (default: the run's --truncation)` },
];

interface SampleOptions {
  checkpoint: string; out: string; n?: number; cols?: number; seed?: number; backend?: BackendChoice; weights?: GeneratorWeightChoice; truncation?: number;
}

async function sample(o: SampleOptions): Promise<void> {
  const n = o.n ?? 64;
  const cols = o.cols ?? 8;
  if (n < 1 || n > 4096) throw new UsageError(`--n must be in 1..4096, got ${n}`);
  if (cols < 1) throw new UsageError(`--cols must be >= 1, got ${cols}`);
  if (o.truncation !== undefined && !isTruncation(o.truncation)) throw new UsageError(`--truncation must be ${TRUNCATION_EXPECTED}, got ${o.truncation}`);
  // Heavy modules load only when the command runs.
  const { tf } = await import('../../core/tf.ts');
  const { initBackend } = await import('../../core/backend/select.ts');
  const { generatorSampler } = await import('../../eval/evaluate.ts');
  const { deriveSeed } = await import('../../data/seed.ts');
  const { loadGenerator } = await import('../../eval/models.ts');
  const { WrongCheckpointError } = await import('../../eval/errors.ts');
  const { writeGrid } = await import('../../run/png-grid.ts');
  await initBackend(o.backend ?? 'auto');
  const loaded = await loadGenerator(o.checkpoint, o.weights ?? 'average').catch((err: unknown) => {
    if (err instanceof WrongCheckpointError) throw new UsageError(err.message, { cause: err });
    throw err;
  });
  const { model: g, checkpointDir: dir, manifest } = loaded;
  const runSeed = Number((manifest.config as { seed?: number }).seed ?? 0);
  const seed = o.seed ?? deriveSeed(runSeed, 'samples', 0);
  const truncation = o.truncation ?? loaded.truncation;
  const images = tf.tidy(() => Float32Array.from(generatorSampler(g, truncation).sample(n, seed).dataSync() as Float32Array)); // (n, 28, 28, 1)
  g.dispose();
  await writeGrid(o.out, images, { n, height: 28, width: 28, cols });
  const which = `${loaded.averaged ? ', averaged weights' : ''}${truncation > 0 ? `, z truncated to ±${truncation}` : ''}`;
  process.stdout.write(`${n} samples from ${dir} (iteration ${manifest.iteration}${which}) -> ${o.out}\n`);
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
