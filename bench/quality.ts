// Sample quality per GAN preset and loss: trains each combination in-process with a fixed budget,
// scores its generator with the MNIST classifier (MNIST score, Fréchet distances of features and
// logits, class coverage) and prints the rows next to the real test images' row. Prints one line
// per run on stderr, then a JSON summary as the last stdout line.
// Usage: node --import tsx bench/quality.ts [--quick] [--classifier DIR] [--out DIR] [--backend B]
//
// Budgets (documented so numbers from different machines can be compared):
//   full:   presets mlp, dcgan, infogan x losses nonsaturating, minimax, lsgan, wgan-gp, hinge;
//           mlp 2000 iterations, dcgan and infogan 1000, batch 64, k = 1, seed 1, defaults
//           otherwise; 5000 samples per evaluation. Without --classifier, a 'workshop'
//           classifier is trained first for 1 epoch. Hours on 2 CPU cores; minutes on a GPU.
//   --quick: preset mlp x every loss, 40 iterations, 500 samples; without --classifier a
//           'quick' classifier trained for 100 steps. About a minute on 2 CPU cores: it checks
//           that the pipeline works end to end; its scores say nothing about the losses.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GAN_PRESETS, type GanPreset } from '../services/core/presets.ts';
import { GAN_LOSSES, type GanLossName } from '../services/core/losses.ts';
import { BACKEND_CHOICES, type BackendChoice } from '../services/core/backend/select.ts';
import { classifierTrainSchema, ganTrainSchema, parseConfig } from '../services/train/config.ts';
import { trainGanInProcess } from '../services/train/gan-trainer.ts';
import { trainClassifier } from '../services/train/classifier-trainer.ts';
import { loadGenerator } from '../services/eval/models.ts';
import { openEvalSession } from '../services/eval/session.ts';
import type { EvalResult, ImageSampler } from '../services/eval/evaluate.ts';
import { tf } from '../services/core/tf.ts';
import { INFER, type Model } from '../services/core/model.ts';
import { createLogger } from '../services/telemetry/log.ts';

interface Budget {
  presets: readonly GanPreset[];
  losses: readonly GanLossName[];
  iterations: Record<GanPreset, number>;
  samples: number;
  classifier: { preset: 'workshop' | 'quick'; epochs: number; maxSteps: number };
}

const FULL: Budget = {
  presets: GAN_PRESETS, losses: GAN_LOSSES, iterations: { mlp: 2000, dcgan: 1000, infogan: 1000 }, samples: 5000,
  classifier: { preset: 'workshop', epochs: 1, maxSteps: 0 },
};
const QUICK: Budget = {
  presets: ['mlp'], losses: GAN_LOSSES, iterations: { mlp: 40, dcgan: 40, infogan: 40 }, samples: 500,
  classifier: { preset: 'quick', epochs: 1, maxSteps: 100 },
};

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

const SEED = 1;
const log = createLogger({ component: 'bench', format: 'pretty', level: 'warn' });
const say = (line: string): void => void process.stderr.write(`[quality] ${line}\n`);

function sampler(model: Model): ImageSampler {
  const zDim = model.inputShape[0];
  return { sample: (n, seed) => tf.tidy(() => model.apply(tf.randomNormal([n, zDim], 0, 1, 'float32', seed), INFER) as tf.Tensor4D) };
}

async function ensureClassifier(out: string, budget: Budget, backend: BackendChoice): Promise<string> {
  const given = flag('--classifier');
  if (given) return given;
  const dir = path.join(out, 'classifier');
  say(`training a '${budget.classifier.preset}' classifier for evaluation (${dir})`);
  const cfg = parseConfig(classifierTrainSchema, {
    preset: budget.classifier.preset, epochs: budget.classifier.epochs, maxSteps: budget.classifier.maxSteps,
    validationSize: 1000, evalEvery: 50, out: dir, seed: SEED, backend,
  }, 'bench/quality.ts');
  const r = await trainClassifier(cfg, log);
  say(`classifier test accuracy ${(100 * r.testAccuracy).toFixed(2)}% after ${r.steps} steps`);
  return dir;
}

interface Row { preset: GanPreset; loss: GanLossName; iterations: number; trainSeconds: number; scores: EvalResult }

async function trainAndScore(out: string, preset: GanPreset, loss: GanLossName, budget: Budget, backend: BackendChoice,
  score: (m: Model) => EvalResult): Promise<Row> {
  const iterations = budget.iterations[preset];
  const cfg = parseConfig(ganTrainSchema, {
    preset, loss, iterations, seed: SEED, backend, out: path.join(out, `gan-${preset}-${loss}`),
    sampleEvery: iterations, checkpointEvery: iterations,
  }, 'bench/quality.ts');
  const t0 = performance.now();
  const r = await trainGanInProcess(cfg, log);
  const trainSeconds = (performance.now() - t0) / 1000;
  const gen = await loadGenerator(r.runDir);
  try {
    return { preset, loss, iterations, trainSeconds, scores: score(gen.model) };
  } finally {
    gen.model.dispose();
  }
}

const fmt = (v: number | undefined, d: number): string => (v === undefined ? '-' : v.toFixed(d));
const line = (label: string, r: EvalResult): string =>
  `${label.padEnd(24)} score ${fmt(r.mnistScore, 3).padStart(6)}  fd(features) ${fmt(r.fdFeatures, 2).padStart(8)}  ` +
  `fd(logits) ${fmt(r.fdLogits, 3).padStart(8)}  classes ${String(r.classesCovered).padStart(2)}  kl ${fmt(r.klUniform, 3)}`;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const budget = quick ? QUICK : FULL;
  const backend = (flag('--backend') ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
  const keep = flag('--out');
  const out = keep ? path.resolve(keep) : await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-quality-'));
  const began = performance.now();
  const classifierDir = await ensureClassifier(out, budget, backend);
  const session = await openEvalSession({ classifierDir, log });
  const rows: Row[] = [];
  try {
    say(line('real test images', session.real));
    for (const preset of budget.presets) {
      for (const loss of budget.losses) {
        const row = await trainAndScore(out, preset, loss, budget, backend, (m) => session.scoreSampler(sampler(m), budget.samples, SEED));
        rows.push(row);
        say(`${line(`${preset} ${loss}`, row.scores)}  (${row.iterations} it, ${row.trainSeconds.toFixed(1)} s)`);
      }
    }
  } finally {
    session.dispose();
    if (!keep) await fsp.rm(out, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({
    bench: 'quality', quick, seed: SEED, samples: budget.samples, classifier: classifierDir, seconds: (performance.now() - began) / 1000,
    real: session.real, runs: rows,
  }) + '\n');
}

// The wasm glue rethrows uncaught errors with a huge line: report failures ourselves.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[quality] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
