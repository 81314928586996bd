// `gantry eval --checkpoint DIR`: scores a GAN generator's samples with the MNIST classifier and
// prints them next to the same scores for the real test images.
//   gantry eval --checkpoint runs/gan-.../ [--samples 10000] [--classifier DIR] [--batch-size 250]
//               [--seed S] [--backend B] [--json]
// DIR is a GAN checkpoint or a run directory (its latest complete checkpoint). Samples come from
// the generator in inference mode; batch i draws z from deriveSeed(seed, 'eval', i), the seed
// defaulting to the GAN run's own.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { tf } from '../../core/tf.ts';
import { INFER, type Model } from '../../core/model.ts';
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../../core/backend/select.ts';
import { createLogger } from '../../telemetry/log.ts';
import { DEFAULT_EVAL_BATCH, type EvalResult, type ImageSampler } from '../../eval/evaluate.ts';
import { loadGenerator } from '../../eval/models.ts';
import { openEvalSession } from '../../eval/session.ts';
import { NoClassifierError, WrongCheckpointError } from '../../eval/errors.ts';
import { RunFileError } from '../../run/errors.ts';
import { UsageError } from '../errors.ts';

interface EvalFlags {
  checkpoint: string;
  samples: number;
  classifier?: string;
  batchSize: number;
  seed?: number;
  backend: BackendChoice;
  json?: boolean;
}

function intFlag(flag: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} expects an integer in ${min}..${max}, got "${v}"`);
    }
    return n;
  };
}

/** The generator as an ImageSampler: z ~ N(0, 1) of (n, zDim) from `seed`, G(z) in inference mode. */
function modelSampler(model: Model): ImageSampler {
  const zDim = model.inputShape[0];
  return {
    sample: (n, seed) =>
      tf.tidy(() => model.apply(tf.randomNormal([n, zDim], 0, 1, 'float32', seed), INFER) as tf.Tensor4D),
  };
}

const fmt = (v: number | undefined, digits: number): string => (v === undefined ? '-' : v.toFixed(digits));

export function formatEvalTable(rows: { label: string; r: EvalResult }[]): string {
  const head = ['', 'samples', 'MNIST score', 'FD features', 'FD logits', 'classes >= 5%', 'KL(hist || uniform)'];
  const body = rows.map(({ label, r }) => [
    label, String(r.samples), fmt(r.mnistScore, 3), fmt(r.fdFeatures, 3), fmt(r.fdLogits, 4), String(r.classesCovered), fmt(r.klUniform, 4),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd() + '\n';
  return line(head) + body.map(line).join('');
}

async function runEval(o: EvalFlags): Promise<void> {
  const log = createLogger({ component: 'eval', format: process.stderr.isTTY ? 'pretty' : 'json', level: o.json ? 'warn' : 'info' });
  const backend = await initBackend(o.backend, log);
  const gen = await loadGenerator(o.checkpoint).catch((err: unknown) => {
    if (err instanceof RunFileError || err instanceof WrongCheckpointError) throw new UsageError(`--checkpoint ${o.checkpoint}: ${(err as Error).message}`, { cause: err });
    throw err;
  });
  const seed = o.seed ?? (typeof gen.manifest.config.seed === 'number' ? gen.manifest.config.seed : 1);
  try {
    const session = await openEvalSession({ classifierDir: o.classifier, batchSize: o.batchSize, log }).catch((err: unknown) => {
      if (err instanceof NoClassifierError || err instanceof RunFileError) throw new UsageError((err as Error).message, { cause: err });
      throw err;
    });
    try {
      const t0 = performance.now();
      const generated = session.scoreSampler(modelSampler(gen.model), o.samples, seed);
      const seconds = (performance.now() - t0) / 1000;
      const iteration = gen.manifest.iteration;
      if (o.json) {
        process.stdout.write(JSON.stringify({
          checkpoint: gen.checkpointDir, iteration, classifier: session.classifier.checkpointDir,
          referenceStats: session.referenceFile, seed, batchSize: o.batchSize, backend: backend.name, seconds,
          generator: generated, real: session.real,
        }) + '\n');
        return;
      }
      process.stdout.write(formatEvalTable([
        { label: `generator (iteration ${iteration})`, r: generated },
        { label: 'real test images', r: session.real },
      ]));
      process.stdout.write(`checkpoint ${gen.checkpointDir}\nclassifier ${session.classifier.checkpointDir}\n`);
    } finally {
      session.dispose();
    }
  } finally {
    gen.model.dispose();
  }
}

export function register(program: Command): void {
  program
    .command('eval')
    .description("score a GAN's samples with the MNIST classifier (MNIST score, Fréchet distances, class coverage)")
    .requiredOption('--checkpoint <dir>', 'GAN checkpoint, or a run directory (its latest complete checkpoint)')
    .addOption(new Option('--samples <n>', 'generated images to score').argParser(intFlag('--samples', 2, 1_000_000)).default(10000))
    .option('--classifier <dir>', 'classifier run or checkpoint (default: the newest classifier run under ./runs)')
    .addOption(new Option('--batch-size <n>', 'images per classifier batch').argParser(intFlag('--batch-size', 1, 65536)).default(DEFAULT_EVAL_BATCH))
    .addOption(new Option('--seed <n>', "seed of the latent draws (default: the GAN run's seed)").argParser(intFlag('--seed', 0, 2 ** 32 - 1)))
    .addOption(new Option('--backend <name>', 'math backend').choices(BACKEND_CHOICES as string[]).default('auto'))
    .option('--json', 'print one JSON object instead of the table')
    .action(async (opts: EvalFlags) => runEval(opts));
}
