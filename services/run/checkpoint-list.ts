// Finding checkpoints: listing a checkpoints directory, picking the latest good one, resolving
// what a user typed (a checkpoint, a run directory, a checkpoints directory), and pruning.
// "Latest" always means the newest checkpoint whose files hash to its manifest: a damaged newer
// one is skipped with a warning, so a resume falls back to the previous good checkpoint.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseCheckpointDirName, PARTIAL_SUFFIX } from './checkpoint-paths.ts';
import { verifyCheckpoint } from './checkpoint.ts';
import { CheckpointError } from './errors.ts';
import { type Manifest, MANIFEST_FILE, manifestFiles, readManifest } from './manifest.ts';

export interface CheckpointInfo {
  dir: string;
  iteration: number;
  manifest: Manifest;
}

export interface CheckpointListing {
  /** Complete checkpoints, oldest first. */
  checkpoints: CheckpointInfo[];
  /** One line per skipped directory, naming it and why. */
  warnings: string[];
}

export interface FindOptions {
  /** Receives one line per skipped checkpoint; by default they are dropped silently. */
  onWarning?: (warning: string) => void;
}

type DirEntry = { dir: string; iteration: number; partial: boolean };

async function checkpointDirs(root: string): Promise<DirEntry[]> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CheckpointError(root, `${root}: cannot list: ${(err as Error).message}`, { cause: err });
  }
  const out: DirEntry[] = [];
  for (const name of names) {
    const parsed = parseCheckpointDirName(name);
    if (parsed) out.push({ dir: path.join(root, name), ...parsed });
  }
  return out.sort((a, b) => a.iteration - b.iteration);
}

/** Cheap check: a valid manifest and every listed file present. `verify` adds the sha256s. */
async function inspect(dir: string, verify: boolean): Promise<Manifest> {
  if (verify) return verifyCheckpoint(dir);
  const manifest = await readManifest(dir);
  for (const { file } of manifestFiles(manifest)) {
    const full = path.join(dir, file);
    try {
      await fsp.stat(full);
    } catch (err) {
      throw new CheckpointError(full, `${full}: listed in the manifest but missing`, { cause: err });
    }
  }
  return manifest;
}

function skipReason(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err);
}

/** Complete checkpoints under `root` (a checkpoints directory), sorted by iteration. */
export async function listCheckpoints(root: string, opts: { verify?: boolean } = {}): Promise<CheckpointListing> {
  const listing: CheckpointListing = { checkpoints: [], warnings: [] };
  for (const e of await checkpointDirs(root)) {
    if (e.partial) {
      listing.warnings.push(`${e.dir}: half-written (.partial), skipped`);
      continue;
    }
    try {
      const manifest = await inspect(e.dir, opts.verify ?? false);
      if (manifest.iteration !== e.iteration) throw new Error(`manifest iteration ${manifest.iteration} does not match the name`);
      listing.checkpoints.push({ dir: e.dir, iteration: e.iteration, manifest });
    } catch (err) {
      listing.warnings.push(`${e.dir}: skipped: ${skipReason(err)}`);
    }
  }
  return listing;
}

/** The newest checkpoint that verifies fully (sha256 of every file), or undefined. */
export async function latestCheckpoint(root: string, opts: FindOptions = {}): Promise<CheckpointInfo | undefined> {
  const dirs = (await checkpointDirs(root)).filter((e) => !e.partial).reverse();
  for (const e of dirs) {
    try {
      const manifest = await verifyCheckpoint(e.dir);
      return { dir: e.dir, iteration: e.iteration, manifest };
    } catch (err) {
      opts.onWarning?.(`${e.dir}: skipped: ${skipReason(err)}`);
    }
  }
  return undefined;
}

/**
 * Every complete-looking checkpoint of a run is damaged: resuming would silently retrain from
 * the initial weights. `skipped` has one line per checkpoint directory, naming it and why.
 */
export class NoValidCheckpoint extends CheckpointError {
  override readonly name: string = 'NoValidCheckpoint';
  constructor(root: string, readonly skipped: string[]) {
    super(root, `cannot resume: every checkpoint in ${root} is invalid (${skipped.length}):\n  ${skipped.join('\n  ')}\n` +
      'restore one, or pass --restart-from-scratch to train again from the initial weights');
  }
}

/**
 * Where a resumed run starts: the newest intact checkpoint; undefined when the run has none yet
 * (only half-written .partial ones, or nothing: it died before its first checkpoint). When it has
 * checkpoints and every one is damaged it throws NoValidCheckpoint, unless `restartFromScratch`,
 * which starts from the initial weights (each skipped one still goes to onWarning).
 */
export async function resumePoint(root: string, opts: FindOptions & { restartFromScratch?: boolean } = {}): Promise<CheckpointInfo | undefined> {
  const skipped: string[] = [];
  const latest = await latestCheckpoint(root, { onWarning: (w) => { skipped.push(w); opts.onWarning?.(w); } });
  if (latest || skipped.length === 0 || opts.restartFromScratch) return latest;
  throw new NoValidCheckpoint(root, skipped);
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * A checkpoint directory as given, or the latest good checkpoint of a run directory or a
 * checkpoints directory. A half-written or manifest-less checkpoint named directly is an error.
 */
export async function resolveCheckpoint(pathOrRunDir: string, opts: FindOptions = {}): Promise<string> {
  const p = path.resolve(pathOrRunDir);
  if (!(await exists(p))) throw new CheckpointError(p, `${pathOrRunDir}: no such checkpoint or run directory`);
  // Named directly: only the cheap checks here; readCheckpoint hashes every file it loads.
  if ((await exists(path.join(p, MANIFEST_FILE))) || parseCheckpointDirName(path.basename(p))) {
    if (p.endsWith(PARTIAL_SUFFIX)) throw new CheckpointError(p, `${p}: half-written checkpoint (${PARTIAL_SUFFIX}); it is never loaded`);
    await readManifest(p);
    return p;
  }
  const root = (await exists(path.join(p, 'checkpoints'))) ? path.join(p, 'checkpoints') : p;
  const skipped: string[] = [];
  const latest = await latestCheckpoint(root, {
    onWarning: (w) => {
      skipped.push(w);
      opts.onWarning?.(w);
    },
  });
  if (latest) return latest.dir;
  const why = skipped.length > 0 ? `; skipped ${skipped.length}:\n  ${skipped.join('\n  ')}` : '';
  throw new CheckpointError(root, `${pathOrRunDir}: no complete checkpoint found in ${root}${why}`);
}

export interface PruneResult {
  removed: string[];
  kept: string[];
  warnings: string[];
}

/**
 * Keeps the newest `keepLast` checkpoints that verify and any damaged ones newer than those
 * (left for inspection); removes everything older, and stale .partial directories older than the
 * newest good one (a newer .partial may be being written right now). A directory is renamed out of the loaders' sight before it is deleted, so a crash
 * mid-delete never leaves something that looks like a checkpoint.
 */
export async function pruneCheckpoints(root: string, keepLast: number): Promise<PruneResult> {
  if (!Number.isSafeInteger(keepLast) || keepLast < 1) {
    throw new RangeError(`pruneCheckpoints: keepLast must be an integer >= 1, got ${keepLast}`);
  }
  const result: PruneResult = { removed: [], kept: [], warnings: [] };
  const dirs = (await checkpointDirs(root)).reverse();
  let good = 0;
  let newestKept: number | undefined;
  for (const e of dirs) {
    if (e.partial) continue;
    if (good >= keepLast) {
      await removeDir(e.dir, result);
      continue;
    }
    try {
      await verifyCheckpoint(e.dir);
      good += 1;
      newestKept ??= e.iteration;
    } catch (err) {
      result.warnings.push(`${e.dir}: damaged, kept for inspection: ${skipReason(err)}`);
    }
    result.kept.push(e.dir);
  }
  for (const e of dirs) {
    if (e.partial && newestKept !== undefined && e.iteration < newestKept) await removeDir(e.dir, result);
  }
  await sweepDeleting(root);
  return result;
}

/** Finishes deletions that a crash interrupted. */
async function sweepDeleting(root: string): Promise<void> {
  const names = await fsp.readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (/^iter-\d{6,}(\.partial)?\.deleting$/.test(name)) await fsp.rm(path.join(root, name), { recursive: true, force: true });
  }
}

async function removeDir(dir: string, result: PruneResult): Promise<void> {
  const doomed = `${dir}.deleting`;
  await fsp.rename(dir, doomed);
  await fsp.rm(doomed, { recursive: true, force: true });
  result.removed.push(dir);
}
