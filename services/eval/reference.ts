// Reference statistics of the real test images, cached on disk. Running 10,000 test images through
// the workshop classifier and fitting two Gaussians costs tens of seconds, so it is done once per
// (classifier weights, test set) and kept in the classifier's run directory:
//   <classifier run>/reference-stats.json        (checkpoint inside RUN/checkpoints/iter-XXXXXX)
//   <checkpoint dir>.reference-stats.json         (a checkpoint anywhere else)
// keyed by the sha256 of classifier.safetensors (from its verified manifest) and the sha256 of the
// test images and labels. A cache whose key differs is recomputed and replaced; an unreadable one
// is recomputed with a warning. Float64 arrays are stored as base64 of their little-endian bytes.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ClassifierModel } from '../core/model.ts';
import type { ImageSet } from '../data/imageset.ts';
import { writeJsonAtomic } from '../run/atomic-file.ts';
import type { Logger } from '../telemetry/log.ts';
import { ReferenceStatsError } from './errors.ts';
import { evaluateReal, type EvalResult, type ReferenceStats } from './evaluate.ts';
import type { GaussianStats } from './frechet.ts';

export const REFERENCE_FORMAT = 'gantry-reference-stats/1';
export const REFERENCE_FILE = 'reference-stats.json';

export interface ReferenceKey {
  classifierSha256: string;
  testSetSha256: string;
}

export interface Reference {
  reference: ReferenceStats;
  /** The real test images' own scores: the row generated images are read against. */
  real: EvalResult;
  file: string;
  cached: boolean;
}

/** Where the cache of a classifier checkpoint lives (see the header). */
export function referenceStatsPath(classifierCheckpointDir: string): string {
  const dir = path.resolve(classifierCheckpointDir);
  const parent = path.dirname(dir);
  if (path.basename(parent) === 'checkpoints') return path.join(path.dirname(parent), REFERENCE_FILE);
  return `${dir}.${REFERENCE_FILE}`;
}

/** sha256 over the test set's shape, images and labels. */
export function testSetSha256(set: ImageSet): string {
  return createHash('sha256')
    .update(`${set.count}x${set.height}x${set.width}\n`)
    .update(set.images)
    .update(set.labels)
    .digest('hex');
}

function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('reference statistics: big-endian hosts are not supported');
}

function encodeF64(a: Float64Array): string {
  assertLittleEndian();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

function decodeF64(text: unknown, length: number, file: string, what: string): Float64Array {
  assertLittleEndian();
  const bytes = typeof text === 'string' ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (bytes.byteLength !== length * 8) {
    throw new ReferenceStatsError(file, `${file}: ${what}: expected ${length} float64 values (${length * 8} bytes), found ${bytes.byteLength} bytes`);
  }
  const out = new Float64Array(length);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function encodeStats(s: GaussianStats): Record<string, unknown> {
  return { dim: s.dim, count: s.count, mean: encodeF64(s.mean), cov: encodeF64(s.cov) };
}

function decodeStats(raw: unknown, file: string, what: string): GaussianStats {
  const r = (raw ?? {}) as Record<string, unknown>;
  const dim = r.dim;
  const count = r.count;
  if (!Number.isSafeInteger(dim) || (dim as number) < 1 || !Number.isSafeInteger(count)) {
    throw new ReferenceStatsError(file, `${file}: ${what}: expected integer dim and count, found ${JSON.stringify({ dim, count })}`);
  }
  const d = dim as number;
  return { dim: d, count: count as number, mean: decodeF64(r.mean, d, file, `${what}.mean`), cov: decodeF64(r.cov, d * d, file, `${what}.cov`) };
}

/** The cached statistics when the file exists and matches `key`; undefined when absent or stale. */
export async function readReference(file: string, key: ReferenceKey): Promise<Omit<Reference, 'file' | 'cached'> | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ReferenceStatsError(file, `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ReferenceStatsError(file, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (raw.format !== REFERENCE_FORMAT) {
    throw new ReferenceStatsError(file, `${file}: format ${JSON.stringify(raw.format)}; expected "${REFERENCE_FORMAT}"`);
  }
  if (raw.classifierSha256 !== key.classifierSha256 || raw.testSetSha256 !== key.testSetSha256) return undefined;
  const reference = { features: decodeStats(raw.features, file, 'features'), logits: decodeStats(raw.logits, file, 'logits') };
  return { reference, real: raw.real as EvalResult };
}

export async function writeReference(file: string, key: ReferenceKey, ref: Omit<Reference, 'file' | 'cached'>): Promise<void> {
  await writeJsonAtomic(file, {
    format: REFERENCE_FORMAT,
    ...key,
    createdAt: new Date().toISOString(),
    real: ref.real,
    features: encodeStats(ref.reference.features),
    logits: encodeStats(ref.reference.logits),
  });
}

export interface ReferenceOptions {
  /** Overrides where the cache is kept (default: referenceStatsPath of the checkpoint). */
  file?: string;
  batchSize?: number;
  log?: Logger;
}

/** The test set's reference statistics for this classifier: from the cache, or computed and cached. */
export async function loadOrComputeReference(
  classifier: { model: ClassifierModel; checkpointDir: string; sha256: string },
  testSet: ImageSet,
  opts: ReferenceOptions = {},
): Promise<Reference> {
  const file = opts.file ?? referenceStatsPath(classifier.checkpointDir);
  const key = { classifierSha256: classifier.sha256, testSetSha256: testSetSha256(testSet) };
  try {
    const hit = await readReference(file, key);
    if (hit) return { ...hit, file, cached: true };
  } catch (err) {
    opts.log?.warn('reference statistics cache unusable; recomputing', { file, error: err });
  }
  const t0 = performance.now();
  const { result, reference } = evaluateReal(classifier.model, testSet, { batchSize: opts.batchSize });
  opts.log?.info('reference statistics computed', { file, images: testSet.count, seconds: (performance.now() - t0) / 1000 });
  try {
    await writeReference(file, key, { reference, real: result });
  } catch (err) {
    opts.log?.warn('cannot cache the reference statistics; they will be recomputed next time', { file, error: err });
  }
  return { reference, real: result, file, cached: false };
}
