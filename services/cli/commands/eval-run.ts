// The work of `gantry eval` (eval.ts beside it parses the flags and loads this module
// only when the command runs, so other commands do not pay for TensorFlow.js).
import { initBackend, type BackendChoice } from '../../core/backend/select.ts';
import path from 'node:path';
import { createLogger, type Logger } from '../../telemetry/log.ts';
import { generatorSampler, type EvalResult } from '../../eval/evaluate.ts';
import { loadGenerator } from '../../eval/models.ts';
import { formatComponents, scoreComponents } from '../../eval/components.ts';
import { latentPriorOf } from '../../core/latents.ts';
import type { GeneratorWeightChoice } from '../../core/catalog.ts';
import { openEvalSession, type EvalSession } from '../../eval/session.ts';
import { readImagesFile } from '../../eval/images-file.ts';
import { NoClassifierError, WrongCheckpointError } from '../../eval/errors.ts';
import { RunFileError } from '../../run/errors.ts';
import { UsageError } from '../errors.ts';

export interface EvalFlags {
  /** A GAN checkpoint or run directory; exactly one of checkpoint and images. */
  checkpoint?: string;
  /** A .npy file of images from any source (services/eval/images-file.ts). */
  images?: string;
  samples: number;
  classifier?: string;
  batchSize: number;
  seed?: number;
  backend: BackendChoice;
  weights: GeneratorWeightChoice;
  /** Batches of standing statistics; default: the run's standingStats. */
  standingStats?: number;
  /** Truncation threshold of the latents; default: the run's truncation. */
  truncation?: number;
  /** Also score each component of a mixture prior (services/eval/components.ts). */
  components?: boolean;
  json?: boolean;
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

async function openSession(o: EvalFlags, log: Logger): Promise<EvalSession> {
  return openEvalSession({ classifierDir: o.classifier, batchSize: o.batchSize, log }).catch((err: unknown) => {
    if (err instanceof NoClassifierError || err instanceof RunFileError) throw new UsageError((err as Error).message, { cause: err });
    throw err;
  });
}

/** `gantry eval --images FILE.npy`: the file's images scored next to the real test images. */
async function evalImagesFile(o: EvalFlags & { images: string }, log: Logger, backendName: string): Promise<void> {
  const images = await readImagesFile(o.images);
  const session = await openSession(o, log);
  try {
    const t0 = performance.now();
    const scored = session.scoreImages(images);
    const seconds = (performance.now() - t0) / 1000;
    if (o.json) {
      process.stdout.write(JSON.stringify({
        images: path.resolve(o.images), classifier: session.classifier.checkpointDir, referenceStats: session.referenceFile,
        batchSize: o.batchSize, backend: backendName, seconds, generator: scored, real: session.real,
      }) + '\n');
      return;
    }
    process.stdout.write(formatEvalTable([
      { label: `images ${path.basename(o.images)}`, r: scored },
      { label: 'real test images', r: session.real },
    ]));
    process.stdout.write(`images ${path.resolve(o.images)}\nclassifier ${session.classifier.checkpointDir}\n`);
  } finally {
    session.dispose();
  }
}

export async function runEval(o: EvalFlags): Promise<void> {
  if ((o.checkpoint === undefined) === (o.images === undefined)) {
    throw new UsageError('gantry eval needs exactly one of --checkpoint DIR (a GAN to sample) and --images FILE.npy (images to score)');
  }
  const log = createLogger({ component: 'eval', format: process.stderr.isTTY ? 'pretty' : 'json', level: o.json ? 'warn' : 'info' });
  const backend = await initBackend(o.backend, log);
  if (o.images !== undefined) return evalImagesFile({ ...o, images: o.images }, log, backend.name);
  const checkpoint = o.checkpoint as string;
  const gen = await loadGenerator(checkpoint, o.weights, o.standingStats).catch((err: unknown) => {
    if (err instanceof RunFileError || err instanceof WrongCheckpointError) throw new UsageError(`--checkpoint ${checkpoint}: ${(err as Error).message}`, { cause: err });
    throw err;
  });
  const seed = o.seed ?? (typeof gen.manifest.config.seed === 'number' ? gen.manifest.config.seed : 1);
  const truncation = o.truncation ?? gen.truncation;
  try {
    const session = await openSession(o, log);
    try {
      const t0 = performance.now();
      const generated = session.scoreSampler(generatorSampler(gen.model, truncation), o.samples, seed);
      const mixture = latentPriorOf(gen.model).zMixture ?? 0;
      if (o.components && mixture < 2) throw new UsageError(`--components: ${gen.checkpointDir} was trained with z ~ N(0, I); it has no mixture components (gantry train gan --z-mixture K)`);
      const components = o.components ? scoreComponents(gen.model, session.classifier.model, Math.max(1, Math.floor(o.samples / mixture)), seed, truncation, o.batchSize) : undefined;
      const seconds = (performance.now() - t0) / 1000;
      const iteration = gen.manifest.iteration;
      if (o.json) {
        process.stdout.write(JSON.stringify({
          checkpoint: gen.checkpointDir, iteration, weights: gen.averaged ? 'average' : 'raw', standingStats: gen.standingStats, truncation, classifier: session.classifier.checkpointDir,
          referenceStats: session.referenceFile, seed, batchSize: o.batchSize, backend: backend.name, seconds,
          generator: generated, real: session.real, ...(components ? { components } : {}),
        }) + '\n');
        return;
      }
      process.stdout.write(formatEvalTable([
        { label: `generator (iteration ${iteration}${gen.averaged ? ', averaged weights' : ''}${gen.standingStats > 0 ? `, standing statistics over ${gen.standingStats} batches` : ''}${truncation > 0 ? `, z truncated to ±${truncation}` : ''})`, r: generated },
        { label: 'real test images', r: session.real },
      ]));
      if (components) process.stdout.write(formatComponents(components));
      process.stdout.write(`checkpoint ${gen.checkpointDir}\nclassifier ${session.classifier.checkpointDir}\n`);
    } finally {
      session.dispose();
    }
  } finally {
    gen.model.dispose();
  }
}
