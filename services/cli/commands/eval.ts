// `gantry eval --checkpoint DIR`: scores a GAN generator's samples with the MNIST classifier and
// prints them next to the same scores for the real test images.
//   gantry eval --checkpoint runs/gan-.../ [--samples 10000] [--classifier DIR] [--batch-size 250]
//               [--seed S] [--backend B] [--weights average|raw] [--standing-stats N]
//               [--truncation T] [--components] [--json]
//   gantry eval --images samples.npy [--classifier DIR] ...   (images from any source, same scores)
// DIR is a GAN checkpoint or a run directory (its latest complete checkpoint). Samples come from
// the generator in inference mode; batch i draws z from deriveSeed(seed, 'eval', i), the seed
// defaulting to the GAN run's own.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { BACKEND_CHOICES, GENERATOR_WEIGHTS, isTruncation, TRUNCATION_EXPECTED } from '../../core/catalog.ts';
import type { EvalFlags } from './eval-run.ts';

/** Images per classifier batch (services/eval/evaluate.ts DEFAULT_EVAL_BATCH; kept here so --help needs no tfjs). */
const DEFAULT_EVAL_BATCH = 250;

function intFlag(flag: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} expects an integer in ${min}..${max}, got "${v}"`);
    }
    return n;
  };
}

function truncationFlag(v: string): number {
  const t = Number(v);
  if (v.trim() === '' || !isTruncation(t)) throw new InvalidArgumentError(`--truncation expects ${TRUNCATION_EXPECTED}, got "${v}"`);
  return t;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description("score a GAN's samples with the MNIST classifier (MNIST score, Fréchet distances, class coverage)")
    .option('--checkpoint <dir>', 'GAN checkpoint, or a run directory (its latest complete checkpoint)')
    .option('--images <file.npy>', 'score these images instead of a GAN\'s samples: a .npy array (N, 28, 28[, 1]) or (N, 784), float in [-1, 1] or uint8')
    .addOption(new Option('--samples <n>', 'generated images to score').argParser(intFlag('--samples', 2, 1_000_000)).default(10000))
    .option('--classifier <dir>', 'classifier run or checkpoint (default: the newest classifier run under ./runs)')
    .addOption(new Option('--batch-size <n>', 'images per classifier batch').argParser(intFlag('--batch-size', 1, 65536)).default(DEFAULT_EVAL_BATCH))
    .addOption(new Option('--seed <n>', "seed of the latent draws (default: the GAN run's seed)").argParser(intFlag('--seed', 0, 2 ** 32 - 1)))
    .addOption(new Option('--backend <name>', 'math backend').choices(BACKEND_CHOICES).default('auto'))
    .addOption(new Option('--weights <which>', "'average': the generator's moving average of weights when the run kept one (--g-ema); 'raw': its trained weights")
      .choices(GENERATOR_WEIGHTS).default('average'))
    .addOption(new Option('--standing-stats <n>', "re-estimate the generator's batch-norm statistics for its weights over N batches first (0: as checkpointed; default: the run's --standing-stats)")
      .argParser(intFlag('--standing-stats', 0, 10000)))
    .addOption(new Option('--truncation <t>', `draw z from N(0, 1) truncated to [-t, t] (BigGAN's truncation trick): ${TRUNCATION_EXPECTED}; default: the run's --truncation`)
      .argParser(truncationFlag))
    .option('--components', "with a mixture prior (--z-mixture), also classify --samples / K samples of each component: its majority digit, that digit's share and the mean entropy of the prediction")
    .option('--json', 'print one JSON object instead of the table')
    .action(async (opts: EvalFlags) => (await import('./eval-run.ts')).runEval(opts));
}
