// Loading the two models evaluation needs from checkpoints: the MNIST classifier (given, or the
// newest classifier run under ./runs) and a GAN's generator. Both are rebuilt from the arch in
// the checkpoint and restored with the core's restoreModel, so names and shapes are checked. A
// generator trained with gEma > 0 is loaded with the moving average of its weights (what the run's
// sample grids and evaluations used) unless the raw weights are asked for, and with its batch
// norms' statistics re-estimated for those weights when the run sampled with standing statistics.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { buildModelFromArch } from '../core/presets.ts';
import { restoreModel } from '../core/snapshot.ts';
import { standingStatistics } from '../core/standing-stats.ts';
import { assignChecked } from '../core/optim.ts';
import { TRUNCATION_EXPECTED, isTruncation, type GeneratorWeightChoice } from '../core/catalog.ts';
import { SnapshotMismatchError } from '../core/errors.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { ClassifierModel, Model } from '../core/model.ts';
import { readCheckpoint } from '../run/checkpoint.ts';
import { resolveCheckpoint } from '../run/checkpoint-list.ts';
import type { Manifest } from '../run/manifest.ts';
import { NoClassifierError, WrongCheckpointError } from './errors.ts';

export const DEFAULT_RUNS_DIR = 'runs';

export interface LoadedModel<M extends Model> {
  model: M;
  checkpointDir: string;
  manifest: Manifest;
  /** sha256 of the model's weights file, from the (verified) manifest. */
  sha256: string;
  /** The weights are the moving average the run kept (generator, weights 'average'). */
  averaged: boolean;
  /** Batches of standing statistics the batch norms were re-estimated over; 0: as checkpointed. */
  standingStats: number;
  /** The run's truncation of the sampling latents (generator; 0: none, and for a classifier). */
  truncation: number;
}

/** Overwrites the model's parameters with the "<param>/ema" slots; false when the snapshot has none. */
function loadAverages(model: Model, snap: ModelSnapshot): boolean {
  const averages = new Map(snap.optimizer.slots.filter((s) => s.name.endsWith('/ema')).map((s) => [s.name.slice(0, -'/ema'.length), s]));
  if (averages.size === 0) return false;
  for (const { name, variable } of model.params) {
    const found = averages.get(name);
    if (!found) throw new SnapshotMismatchError(`${model.role} moving average of ${name} is missing from the snapshot`);
    assignChecked(`${model.role}/${name}/ema`, variable, found);
  }
  return true;
}

const HOW_TO_TRAIN = 'train one first with `gantry train classifier`';

/** run.json of a directory, or undefined when it has none (or an unreadable one). */
async function runInfoOf(dir: string): Promise<{ kind?: unknown; startedAt?: unknown } | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path.join(dir, 'run.json'), 'utf8')) as { kind?: unknown; startedAt?: unknown };
  } catch {
    return undefined;
  }
}

/**
 * The newest run directory under `runsDir` whose run.json says kind 'classifier' and which holds
 * a complete checkpoint. Newest by run.json startedAt; runs without a good checkpoint are skipped.
 */
export async function findClassifierRun(runsDir = DEFAULT_RUNS_DIR, onWarning?: (w: string) => void): Promise<string> {
  let names: string[];
  try {
    names = await fsp.readdir(runsDir);
  } catch {
    throw new NoClassifierError(`no classifier found: ${path.resolve(runsDir)} does not exist; ${HOW_TO_TRAIN}, or pass --classifier DIR`);
  }
  const runs: { dir: string; startedAt: string }[] = [];
  for (const name of names) {
    const dir = path.join(runsDir, name);
    const info = await runInfoOf(dir);
    if (info?.kind === 'classifier') runs.push({ dir, startedAt: typeof info.startedAt === 'string' ? info.startedAt : '' });
  }
  runs.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
  for (const run of runs) {
    try {
      await resolveCheckpoint(run.dir);
      return run.dir;
    } catch (err) {
      onWarning?.(`${run.dir}: classifier run without a complete checkpoint, skipped (${(err as Error).message.split('\n')[0]})`);
    }
  }
  const seen = runs.length > 0 ? ` (${runs.length} classifier run(s) there have no complete checkpoint)` : '';
  throw new NoClassifierError(`no trained classifier under ${path.resolve(runsDir)}${seen}; ${HOW_TO_TRAIN}, or pass --classifier DIR`);
}

async function loadRole<M extends Model>(
  dirOrRun: string, role: 'classifier' | 'generator', weights: GeneratorWeightChoice = 'raw', standing?: number,
): Promise<LoadedModel<M>> {
  const checkpointDir = await resolveCheckpoint(dirOrRun);
  const ckpt = await readCheckpoint(checkpointDir);
  const snap = ckpt.models.get(role);
  const entry = ckpt.manifest.models.find((m) => m.role === role);
  if (!snap || !entry) {
    const has = ckpt.manifest.models.map((m) => m.role).join(', ');
    const message = `${checkpointDir}: expected a checkpoint with a ${role}, found ${has || 'no models'}`;
    if (role === 'classifier') throw new NoClassifierError(`${message}; ${HOW_TO_TRAIN}`);
    throw new WrongCheckpointError(`${message}; pass a GAN run directory or checkpoint`);
  }
  const { config } = ckpt.manifest;
  const truncation = role === 'generator' ? manifestTruncation(checkpointDir, config.truncation) : 0;
  const model = buildModelFromArch(role, snap.arch) as M;
  let averaged = false;
  const standingStats = role === 'generator' ? standing ?? (typeof config.standingStats === 'number' ? config.standingStats : 0) : 0;
  try {
    restoreModel(model, undefined, snap);
    if (weights === 'average') averaged = loadAverages(model, snap);
    if (standingStats > 0) {
      if (typeof config.batchSize !== 'number' || typeof config.seed !== 'number') {
        throw new WrongCheckpointError(`${checkpointDir}: standing statistics need the run's batchSize and seed, and its manifest config has none`);
      }
      standingStatistics(model, { batches: standingStats, batchSize: config.batchSize, seed: config.seed });
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, checkpointDir, manifest: ckpt.manifest, sha256: entry.sha256, averaged, standingStats, truncation };
}

/** The run's truncation from a manifest config: absent is 0 (runs before --truncation); anything else must be in bounds. */
function manifestTruncation(checkpointDir: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && isTruncation(value)) return value;
  throw new WrongCheckpointError(`${checkpointDir}: the manifest's config.truncation must be ${TRUNCATION_EXPECTED}, found ${JSON.stringify(value)}`);
}

/** The classifier of a classifier checkpoint or run directory (its latest complete checkpoint). */
export async function loadClassifier(dirOrRun: string): Promise<LoadedModel<ClassifierModel>> {
  return loadRole<ClassifierModel>(dirOrRun, 'classifier');
}

/** `dir`, or the newest classifier run under runsDir, loaded. */
export async function loadDefaultClassifier(
  dir: string | undefined,
  runsDir = DEFAULT_RUNS_DIR,
  onWarning?: (w: string) => void,
): Promise<LoadedModel<ClassifierModel>> {
  return loadClassifier(dir ?? (await findClassifierRun(runsDir, onWarning)));
}

/**
 * The generator of a GAN checkpoint or run directory (its latest complete checkpoint), by default
 * with the moving average of its weights when the run kept one, and standing statistics over the
 * run's standingStats batches (`standing` overrides it; 0: the checkpointed statistics).
 */
export async function loadGenerator(dirOrRun: string, weights: GeneratorWeightChoice = 'average', standing?: number): Promise<LoadedModel<Model>> {
  return loadRole<Model>(dirOrRun, 'generator', weights, standing);
}
