// Sample quality per GAN preset and loss: trains each combination in-process with a fixed budget,
// scores its generator with the MNIST classifier (MNIST score, Fréchet distances of features and
// logits, class coverage) and prints the rows next to the real test images' row. Prints one line
// per run on stderr, then a JSON summary as the last stdout line.
// Usage: node --import tsx bench/quality.ts [--quick | --target] [--presets a,b] [--losses a,b]
//          [--iterations N] [--width W] [--z-dim Z] [--z-mixture K] [--d-layers L] [--g-layers L] [--g-kernel K] [--batch B] [--lr-g LR] [--lr-d LR]
//          [--g-ema D] [--standing-stats N] [--truncation T] [--minutes M] [--classifier DIR]
//          [--out DIR] [--backend B]
// --iterations and --width override the budget's for every preset (W: generator and
// discriminator width, as --g-width/--d-width), --z-dim the latent size, --z-mixture the components of
// a Gaussian-mixture latent prior (as gantry train's; 0: N(0, I)), --d-layers the conv layers of the
// convolutional discriminators (2-5, as gantry train's --d-layers), --g-layers the generators' (2-4; --g-kernel: the kernel
// of G's 7x7 conv, 5 or 3), --batch the batch size,
// --lr-g/--lr-d the Adam learning rates (both networks' default 2e-4 outside --target), --g-ema the decay of the moving average of G's
// weights that the scores use (0: the raw weights), --standing-stats the batches over which G's batch-norm
// statistics are re-estimated for the sampling weights before each score (0: as trained), --truncation
// the threshold of the truncated normal the scores draw z from (BigGAN's truncation trick; 0: N(0, 1);
// with it the final generator is also scored untruncated, as scoresUntruncated), --minutes a
// wall-clock budget per training run (it stops after the iteration that crosses it, with a final
// checkpoint; the iterations are then a cap; 0: none); the JSON records what was used.
//
// Budgets (documented so numbers from different machines can be compared; batch 64, k = 1,
// seed 1, Adam 2e-4 / beta1 0.5 and the presets' defaults otherwise):
//   full (default): presets mlp, dcgan, infogan x losses nonsaturating, minimax, lsgan, wgan-gp,
//           hinge. mlp at its preset size for 2000 iterations; dcgan and infogan at half width
//           (--g-width 32 --d-width 32) for 1000 and 600 iterations. 5000 samples per score.
//           About an hour of CPU on this 2-core machine: --presets/--losses split it into
//           processes that run side by side.
//   --target: the issue's quality target, dcgan (half width) x nonsaturating for 28.5 minutes of
//           training (--minutes; up to 20000 iterations) at batch 32, so that the whole benchmark
//           with its scoring stays within 30 minutes on whatever machine it runs; a 16-dimensional z (--z-dim 16)
//           drawn from a mixture of 10 unit Gaussians with fixed means (--z-mixture 10; --z-mixture 0 for N(0, I),
//           which plateaus at ~8.97 here),
//           six conv layers in G (--g-layers 6: a 5x5 conv at 7x7, two 3x3 at 14x14 and a 3x3 at
//           28x28 that makes the image from 16 maps of the last deconv) and five in D (--d-layers 5: two stride-1 3x3
//           convs after the third, at 4x4), a 7.5x faster generator (lr G 3e-3, D 4e-4, a two-time-scale
//           setting as in Heusel et al. 2017; measured better here) and the scores taken on a
//           moving average of G's weights (decay 0.999, --g-ema) with standing statistics over 50
//           batches (--standing-stats 50, BigGAN's); scored every 1000 iterations
//           on 2000 samples and at the end on 10000; reports the first iteration and minute at
//           which the MNIST score reached 9.0 with all 10 digits covered.
//   --quick: preset mlp x every loss, 40 iterations, 500 samples; without --classifier a
//           'quick' classifier trained for 100 steps. About a minute on 2 CPU cores: it checks
//           that the pipeline works end to end; its scores say nothing about the losses.
// Without --classifier, full and --target first train a 'workshop' classifier for 1 epoch.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GAN_PRESETS, type GanPreset } from '../services/core/presets.ts';
import { GAN_LOSSES, type GanLossName } from '../services/core/losses.ts';
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../services/core/backend/select.ts';
import { isTruncation, TRUNCATION_EXPECTED } from '../services/core/catalog.ts';
import { classifierTrainSchema, ganTrainSchema, parseConfig } from '../services/train/config.ts';
import { trainGanInProcess } from '../services/train/gan-trainer.ts';
import { trainClassifier } from '../services/train/classifier-trainer.ts';
import { loadGenerator } from '../services/eval/models.ts';
import { openEvalSession } from '../services/eval/session.ts';
import { generatorSampler, type EvalResult } from '../services/eval/evaluate.ts';
import type { Model } from '../services/core/model.ts';
import { createLogger } from '../services/telemetry/log.ts';

interface Budget {
  name: 'full' | 'target' | 'quick';
  presets: readonly GanPreset[];
  losses: readonly GanLossName[];
  iterations: Record<GanPreset, number>;
  /** Generator and discriminator width per preset; absent: the preset's own. */
  width: Partial<Record<GanPreset, number>>;
  /** Latent size of every preset (--z-dim); absent: the presets' own. */
  zDim?: number;
  /** Components of the latent prior's Gaussian mixture (--z-mixture); 0: N(0, I). */
  zMixture: number;
  /** Conv layers of the convolutional discriminators (--d-layers); 2: the presets' own. */
  dLayers: number;
  /** Conv layers of the convolutional generators (--g-layers); 2: the presets' own. */
  gLayers: number;
  /** Kernel size of G's 7x7 conv with gLayers 3 (--g-kernel); absent: 5. */
  gKernel?: 3 | 5;
  /** Images per D-step and per G-step. */
  batchSize: number;
  samples: number;
  /** Adam learning rates; absent: the trainer's defaults (2e-4 for both). */
  lr?: { g?: number; d?: number };
  /** Decay of the moving average of G's weights that the scores use (--g-ema); 0: none. */
  gEma: number;
  /** Batches of standing statistics before each score (--standing-stats); 0: G's moving statistics. */
  standingStats: number;
  /** Truncation threshold of the latents the scores sample (--truncation); 0: N(0, 1). */
  truncation: number;
  /** Periodic scoring during training (target mode): every N iterations on M samples. */
  periodic?: { every: number; samples: number };
  /** A wall-clock budget for each training run (--minutes): it stops after the iteration that
   *  crosses it, with a final checkpoint, and `iterations` is only a cap; absent: no limit. */
  minutes?: number;
  classifier: { preset: 'workshop' | 'quick'; epochs: number; maxSteps: number };
}

const WORKSHOP_1_EPOCH = { preset: 'workshop', epochs: 1, maxSteps: 0 } as const;
const BUDGETS: Record<Budget['name'], Budget> = {
  full: {
    name: 'full', presets: GAN_PRESETS, losses: GAN_LOSSES, iterations: { mlp: 2000, dcgan: 1000, infogan: 600 },
    width: { dcgan: 32, infogan: 32 }, zMixture: 0, dLayers: 2, gLayers: 2, batchSize: 64, samples: 5000, gEma: 0, standingStats: 0, truncation: 0, classifier: WORKSHOP_1_EPOCH,
  },
  target: {
    name: 'target', presets: ['dcgan'], losses: ['nonsaturating'], iterations: { mlp: 20000, dcgan: 20000, infogan: 20000 }, minutes: 28.5,
    width: { dcgan: 32 }, zDim: 16, zMixture: 10, dLayers: 5, gLayers: 6, batchSize: 32, lr: { g: 3e-3, d: 4e-4 }, gEma: 0.999, standingStats: 50, truncation: 0, samples: 10000, periodic: { every: 1000, samples: 2000 }, classifier: WORKSHOP_1_EPOCH,
  },
  quick: {
    name: 'quick', presets: ['mlp'], losses: GAN_LOSSES, iterations: { mlp: 40, dcgan: 40, infogan: 40 }, width: {}, zMixture: 0, dLayers: 2, gLayers: 2, batchSize: 64,
    samples: 500, gEma: 0, standingStats: 0, truncation: 0, classifier: { preset: 'quick', epochs: 1, maxSteps: 100 },
  },
};

/** The target of the quality issue: MNIST score >= 9.0 with every digit covered. */
const TARGET = { mnistScore: 9.0, classesCovered: 10 } as const;

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

async function ensureClassifier(out: string, budget: Budget, backend: BackendChoice): Promise<string> {
  const given = flag('--classifier');
  if (given) return given;
  const dir = path.join(out, 'classifier');
  if (budget.name === 'target') {
    say('note: the runs of record in bench/README.md were judged by the 4-epoch workshop classifier (98.93 %, real ' +
      'test images 9.69); the 1-epoch one trained now judges differently (real test images ~9.4), so its scores are not ' +
      'comparable with them. For the same judge: gantry train classifier --in-process --epochs 4 --lr-decay ' +
      '--patience 6 --eval-every 430 --backend wasm --out DIR (12-17 minutes), then --classifier DIR');
  }
  say(`training a '${budget.classifier.preset}' classifier for evaluation (${dir})`);
  const cfg = parseConfig(classifierTrainSchema, {
    preset: budget.classifier.preset, epochs: budget.classifier.epochs, maxSteps: budget.classifier.maxSteps,
    validationSize: 1000, evalEvery: 50, out: dir, seed: SEED, backend,
  }, 'bench/quality.ts');
  const r = await trainClassifier(cfg, log);
  say(`classifier test accuracy ${(100 * r.testAccuracy).toFixed(2)}% after ${r.steps} steps`);
  return dir;
}

interface TargetReached { iteration: number; minutes: number; mnistScore: number; classesCovered: number }

interface Row {
  preset: GanPreset; loss: GanLossName; iterations: number; width?: number; trainSeconds: number; scores: EvalResult;
  /** With --truncation: the same generator scored on untruncated latents, for comparison. */
  scoresUntruncated?: EvalResult;
  /** Periodic scores during training (target mode). */
  curve?: { iteration: number; minutes: number; mnistScore: number; fdFeatures: number | null; classesCovered: number }[];
  /** The first periodic evaluation that met TARGET (target mode); null when none did. */
  targetReached?: TargetReached | null;
}

async function readCurve(runDir: string, startedAt: number): Promise<NonNullable<Row['curve']>> {
  const text = await fsp.readFile(path.join(runDir, 'metrics.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.kind === 'eval')
    .map((r) => ({
      iteration: r.iteration as number, minutes: (Date.parse(r.ts as string) - startedAt) / 60000,
      mnistScore: r.mnistScore as number, fdFeatures: r.fdFeatures as number | null, classesCovered: r.classesCovered as number,
    }));
}

const meetsTarget = (r: { mnistScore: number; classesCovered: number }): boolean =>
  r.mnistScore >= TARGET.mnistScore && r.classesCovered >= TARGET.classesCovered;

async function trainAndScore(out: string, preset: GanPreset, loss: GanLossName, budget: Budget, backend: BackendChoice,
  classifierDir: string, score: (m: Model, truncation: number) => EvalResult): Promise<Row> {
  const iterations = budget.iterations[preset];
  const width = budget.width[preset];
  const cfg = parseConfig(ganTrainSchema, {
    preset, loss, iterations, seed: SEED, backend, out: path.join(out, `gan-${preset}-${loss}`),
    sampleEvery: budget.periodic ? 500 : iterations, checkpointEvery: budget.periodic ? 500 : iterations,
    ...(width === undefined ? {} : { gWidth: width, dWidth: width }),
    ...(budget.zDim === undefined ? {} : { zDim: budget.zDim }),
    zMixture: budget.zMixture,
    ...(preset === 'mlp' ? {} : { dLayers: budget.dLayers, gLayers: budget.gLayers, ...(budget.gKernel === undefined ? {} : { gKernel: budget.gKernel }) }),
    batchSize: budget.batchSize,
    ...(budget.lr?.g === undefined ? {} : { lrG: budget.lr.g }),
    ...(budget.lr?.d === undefined ? {} : { lrD: budget.lr.d }),
    gEma: budget.gEma,
    standingStats: budget.standingStats,
    truncation: budget.truncation,
    ...(budget.periodic ? { evalEvery: budget.periodic.every, evalSamples: budget.periodic.samples, classifier: classifierDir } : {}),
  }, 'bench/quality.ts');
  const startedAt = Date.now();
  const t0 = performance.now();
  const r = await trainGanInProcess(cfg, log, budget.minutes === undefined ? {} : { signal: AbortSignal.timeout(budget.minutes * 60_000) });
  const trainSeconds = (performance.now() - t0) / 1000;
  const gen = await loadGenerator(r.runDir);
  let scores: EvalResult;
  let scoresUntruncated: EvalResult | undefined;
  try {
    scores = score(gen.model, budget.truncation);
    if (budget.truncation > 0) scoresUntruncated = score(gen.model, 0);
  } finally {
    gen.model.dispose();
  }
  const row: Row = {
    preset, loss, iterations: r.iterations, ...(width === undefined ? {} : { width }), trainSeconds, scores,
    ...(scoresUntruncated ? { scoresUntruncated } : {}),
  };
  if (budget.periodic) {
    const curve = await readCurve(r.runDir, startedAt);
    const hit = curve.find(meetsTarget);
    row.curve = curve;
    row.targetReached = hit ? { iteration: hit.iteration, minutes: hit.minutes, mnistScore: hit.mnistScore, classesCovered: hit.classesCovered } : null;
  }
  return row;
}

function intFlag(name: string): number | undefined {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, found '${v}'`);
  return n;
}

function lrFlag(name: string): number | undefined {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new Error(`${name}: expected a learning rate in (0, 1), found '${v}'`);
  return n;
}

function listFlag<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): readonly T[] {
  const v = flag(name);
  if (v === undefined) return fallback;
  const picked = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = picked.filter((p) => !allowed.includes(p as T));
  if (bad.length > 0 || picked.length === 0) throw new Error(`${name}: expected a comma list of ${allowed.join(', ')}; found '${v}'`);
  return picked as T[];
}

const fmt = (v: number | undefined, d: number): string => (v === undefined ? '-' : v.toFixed(d));
const line = (label: string, r: EvalResult): string =>
  `${label.padEnd(24)} score ${fmt(r.mnistScore, 3).padStart(6)}  fd(features) ${fmt(r.fdFeatures, 2).padStart(8)}  ` +
  `fd(logits) ${fmt(r.fdLogits, 3).padStart(8)}  classes ${String(r.classesCovered).padStart(2)}  kl ${fmt(r.klUniform, 3)}`;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const target = process.argv.includes('--target');
  if (quick && target) throw new Error('--quick and --target exclude each other');
  const base = BUDGETS[quick ? 'quick' : target ? 'target' : 'full'];
  const iterations = intFlag('--iterations');
  const width = intFlag('--width');
  const zDim = intFlag('--z-dim');
  const zMixtureFlag = flag('--z-mixture');
  const zMixture = zMixtureFlag === undefined ? undefined : Number(zMixtureFlag);
  if (zMixture !== undefined && !(Number.isInteger(zMixture) && zMixture !== 1 && zMixture >= 0 && zMixture <= 1024)) {
    throw new Error(`--z-mixture: expected 0 (N(0, I)) or 2..1024 components, found '${zMixtureFlag}'`);
  }
  const dLayers = intFlag('--d-layers');
  const gLayers = intFlag('--g-layers');
  const gKernel = intFlag('--g-kernel');
  if (gKernel !== undefined && gKernel !== 3 && gKernel !== 5) throw new Error(`--g-kernel: expected 3 or 5, found '${gKernel}'`);
  const batchSize = intFlag('--batch');
  const lrG = lrFlag('--lr-g');
  const lrD = lrFlag('--lr-d');
  const gEmaFlag = flag('--g-ema');
  const gEma = gEmaFlag === undefined ? base.gEma : Number(gEmaFlag);
  if (!(gEma >= 0 && gEma < 1)) throw new Error(`--g-ema: expected a decay in [0, 1), found '${gEmaFlag}'`);
  const standingFlag = flag('--standing-stats');
  const standingStats = standingFlag === undefined ? base.standingStats : Number(standingFlag);
  if (!Number.isInteger(standingStats) || standingStats < 0 || standingStats > 10000) {
    throw new Error(`--standing-stats: expected an integer in 0..10000, found '${standingFlag}'`);
  }
  const truncationFlag = flag('--truncation');
  const truncation = truncationFlag === undefined ? base.truncation : Number(truncationFlag);
  if (!isTruncation(truncation)) throw new Error(`--truncation: expected ${TRUNCATION_EXPECTED}, found '${truncationFlag}'`);
  const minutesFlag = flag('--minutes');
  const minutes = minutesFlag === undefined ? base.minutes : Number(minutesFlag);
  if (minutes !== undefined && !(minutes >= 0 && minutes <= 24 * 60)) throw new Error(`--minutes: expected minutes in 0..1440 (0: no limit), found '${minutesFlag}'`);
  const budget: Budget = {
    ...base, presets: listFlag('--presets', GAN_PRESETS, base.presets), losses: listFlag('--losses', GAN_LOSSES, base.losses),
    ...(iterations === undefined ? {} : { iterations: { mlp: iterations, dcgan: iterations, infogan: iterations } }),
    ...(width === undefined ? {} : { width: { mlp: width, dcgan: width, infogan: width } }),
    ...(zDim === undefined ? {} : { zDim }),
    ...(zMixture === undefined ? {} : { zMixture }),
    ...(dLayers === undefined ? {} : { dLayers }),
    ...(gLayers === undefined ? {} : { gLayers }),
    ...(gKernel === undefined ? {} : { gKernel }),
    ...(batchSize === undefined ? {} : { batchSize }),
    lr: { ...base.lr, ...(lrG === undefined ? {} : { g: lrG }), ...(lrD === undefined ? {} : { d: lrD }) },
    gEma,
    standingStats,
    truncation,
    minutes: minutes === 0 ? undefined : minutes,
  };
  const backend = (flag('--backend') ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) throw new Error(`--backend must be one of ${BACKEND_CHOICES.join(', ')}`);
  const keep = flag('--out');
  const out = keep ? path.resolve(keep) : await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-quality-'));
  const began = performance.now();
  // The trainers initialise the backend themselves; scoring the real images comes first.
  await initBackend(backend, log);
  const classifierDir = await ensureClassifier(out, budget, backend);
  const session = await openEvalSession({ classifierDir, log });
  const rows: Row[] = [];
  try {
    say(line('real test images', session.real));
    for (const preset of budget.presets) {
      for (const loss of budget.losses) {
        const row = await trainAndScore(out, preset, loss, budget, backend, classifierDir,
          (m, t) => session.scoreSampler(generatorSampler(m, t), budget.samples, SEED));
        rows.push(row);
        const truncated = budget.truncation > 0 ? `, z truncated to ±${budget.truncation}` : '';
        say(`${line(`${preset} ${loss}`, row.scores)}  (${row.iterations} it, ${row.trainSeconds.toFixed(1)} s${truncated})`);
        if (row.scoresUntruncated) say(line(`${preset} ${loss} untruncated`, row.scoresUntruncated));
        if (row.targetReached !== undefined) {
          say(row.targetReached
            ? `target (score >= ${TARGET.mnistScore}, ${TARGET.classesCovered} classes) reached at iteration ${row.targetReached.iteration}, ${row.targetReached.minutes.toFixed(1)} min`
            : `target (score >= ${TARGET.mnistScore}, ${TARGET.classesCovered} classes) not reached by any periodic evaluation`);
        }
      }
    }
  } finally {
    session.dispose();
    if (!keep) await fsp.rm(out, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({
    bench: 'quality', budget: budget.name, quick, seed: SEED, samples: budget.samples, classifier: classifierDir,
    iterations: budget.iterations, width: budget.width, zDim: budget.zDim ?? null, zMixture: budget.zMixture, dLayers: budget.dLayers, gLayers: budget.gLayers, gKernel: budget.gKernel ?? 5, batchSize: budget.batchSize,
    lr: budget.lr ?? null, gEma: budget.gEma, standingStats: budget.standingStats, truncation: budget.truncation, minutes: budget.minutes ?? null,
    seconds: (performance.now() - began) / 1000, real: session.real, runs: rows,
  }) + '\n');
}

// The wasm glue rethrows uncaught errors with a huge line: report failures ourselves.
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[quality] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
