// Writing and reading checkpoints. The commit protocol, which makes a crash at any moment leave
// either the previous checkpoint or the new one, never a half-written one that gets loaded:
//   a) prepareStagingDir: checkpoints/iter-XXXXXX.partial/ is created empty (a stale one from a
//      crashed attempt is removed first);
//   b) writeModelFiles, once per model, by the one process that writes the run directory (the
//      in-process trainer, or the scheduler with snapshots it pulled from the services over gRPC):
//      <role>.safetensors and <role>.optim.safetensors, each temp file + fsync + rename;
//   c) commitCheckpoint: every listed file is re-hashed from disk and must match the entries;
//      manifest.json is written (temp + rename); iter-XXXXXX.partial is renamed to iter-XXXXXX
//      and the parent directory fsynced.
// Loaders accept only directories without the .partial suffix whose manifest is valid and whose
// files all hash to the listed sha256.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsyncDir, writeJsonAtomic } from './atomic-file.ts';
import { finalDirFor, parseCheckpointDirName, PARTIAL_SUFFIX, stagingDirFor } from './checkpoint-paths.ts';
import { CheckpointError } from './errors.ts';
import {
  assertHash,
  type CheckpointKind,
  type Manifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  manifestFiles,
  type ManifestModelEntry,
  type ModelRole,
  parseManifest,
  readManifest,
  sha256OfBytes,
  sha256OfFile,
} from './manifest.ts';
import { checkSnapshot, modelFileNames, type ModelSnapshot, optimizerFromFile, snapshotMetadata } from './model-snapshot.ts';
import { decodeSafetensors, writeSafetensors } from './safetensors.ts';

export { stagingDirFor } from './checkpoint-paths.ts';
export type { CheckpointKind, Manifest, ManifestModelEntry, ModelRole } from './manifest.ts';
export type { AdamState, ModelSnapshot } from './model-snapshot.ts';

/** What the caller provides to commit; format and createdAt are filled in. */
export interface ManifestInput {
  kind: CheckpointKind;
  iteration: number;
  config: Record<string, unknown>;
  models: ManifestModelEntry[];
  extra?: Record<string, unknown>;
}

export interface CheckpointRequest {
  kind: CheckpointKind;
  iteration: number;
  config: Record<string, unknown>;
  snapshots: ModelSnapshot[];
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  dir: string;
  manifest: Manifest;
  models: Map<ModelRole, ModelSnapshot>;
}

/** Step a): an empty staging directory for `iteration`, replacing a stale one. */
export async function prepareStagingDir(checkpointsRoot: string, iteration: number): Promise<string> {
  const dir = stagingDirFor(checkpointsRoot, iteration);
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(dir, { recursive: true });
  return dir;
}

/** Step b): one model's two files in `dir`; returns its manifest entry. */
export async function writeModelFiles(dir: string, snapshot: ModelSnapshot): Promise<ManifestModelEntry> {
  const problem = checkSnapshot(snapshot);
  if (problem) throw new CheckpointError(dir, problem);
  await fsp.mkdir(dir, { recursive: true });
  const names = modelFileNames(snapshot.role);
  const meta = snapshotMetadata(snapshot);
  const model = await writeSafetensors(path.join(dir, names.file), snapshot.tensors, meta.model);
  const optim = await writeSafetensors(path.join(dir, names.optimizerFile), snapshot.optimizer.slots, meta.optimizer);
  return {
    role: snapshot.role,
    arch: snapshot.arch,
    file: names.file,
    sha256: model.sha256,
    optimizerFile: names.optimizerFile,
    optimizerSha256: optim.sha256,
    optimizerStep: snapshot.optimizer.step,
  };
}

/** Step c): verifies, writes the manifest, renames .partial away. Returns the final directory. */
export async function commitCheckpoint(stagingDir: string, input: ManifestInput): Promise<string> {
  const parsed = parseCheckpointDirName(path.basename(stagingDir));
  if (!parsed?.partial || parsed.iteration !== input.iteration) {
    throw new CheckpointError(
      stagingDir,
      `${stagingDir}: expected a staging directory named iter-${String(input.iteration).padStart(6, '0')}${PARTIAL_SUFFIX}`,
    );
  }
  const manifest = parseManifest(
    { format: MANIFEST_FORMAT, createdAt: new Date().toISOString(), ...input },
    path.join(stagingDir, MANIFEST_FILE),
  );
  await verifyFiles(stagingDir, manifest);
  await writeJsonAtomic(path.join(stagingDir, MANIFEST_FILE), manifest);
  const root = path.dirname(stagingDir);
  const finalDir = finalDirFor(root, manifest.iteration);
  await moveAsideIfInvalid(finalDir);
  await fsp.rename(stagingDir, finalDir);
  await fsyncDir(root);
  return finalDir;
}

/** The in-process path: all three steps. Returns the final directory. */
export async function writeCheckpoint(checkpointsRoot: string, req: CheckpointRequest): Promise<string> {
  const staging = await prepareStagingDir(checkpointsRoot, req.iteration);
  try {
    const models: ManifestModelEntry[] = [];
    for (const s of req.snapshots) models.push(await writeModelFiles(staging, s));
    const input: ManifestInput = { kind: req.kind, iteration: req.iteration, config: req.config, models };
    if (req.extra !== undefined) input.extra = req.extra;
    return await commitCheckpoint(staging, input);
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw err;
  }
}

async function verifyFiles(dir: string, manifest: Manifest): Promise<void> {
  for (const { file, sha256 } of manifestFiles(manifest)) {
    const full = path.join(dir, file);
    assertHash(full, sha256, await sha256OfFile(full));
  }
}

/**
 * A committed directory of the same iteration exists only when a run resumed from an older
 * checkpoint reaches it again. A good one is never replaced; a damaged one is renamed to
 * iter-XXXXXX.invalid-<time> (kept for inspection, ignored by loaders).
 */
async function moveAsideIfInvalid(finalDir: string): Promise<void> {
  try {
    await fsp.stat(finalDir);
  } catch {
    return;
  }
  try {
    await verifyCheckpoint(finalDir);
  } catch {
    await fsp.rename(finalDir, `${finalDir}.invalid-${Date.now()}`);
    return;
  }
  throw new CheckpointError(finalDir, `${finalDir}: a complete checkpoint of this iteration already exists; refusing to replace it`);
}

/** Checks a committed checkpoint's manifest and every file's sha256 without decoding tensors. */
export async function verifyCheckpoint(dir: string): Promise<Manifest> {
  assertNotPartial(dir);
  const manifest = await readManifest(dir);
  checkIterationMatchesName(dir, manifest);
  await verifyFiles(dir, manifest);
  return manifest;
}

function assertNotPartial(dir: string): void {
  if (path.basename(dir).endsWith(PARTIAL_SUFFIX)) {
    throw new CheckpointError(dir, `${dir}: half-written checkpoint (${PARTIAL_SUFFIX}); it is never loaded`);
  }
}

function checkIterationMatchesName(dir: string, manifest: Manifest): void {
  const parsed = parseCheckpointDirName(path.basename(dir));
  if (parsed && parsed.iteration !== manifest.iteration) {
    throw new CheckpointError(dir, `${dir}: manifest iteration ${manifest.iteration} does not match the directory name`);
  }
}

/** Loads every model of a checkpoint; each file's bytes are hashed before they are decoded. */
export async function readCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  assertNotPartial(dir);
  const manifest = await readManifest(dir);
  checkIterationMatchesName(dir, manifest);
  const models = new Map<ModelRole, ModelSnapshot>();
  for (const entry of manifest.models) {
    const model = await readVerified(path.join(dir, entry.file), entry.sha256);
    const optimFile = path.join(dir, entry.optimizerFile);
    const optim = await readVerified(optimFile, entry.optimizerSha256);
    const optimizer = optimizerFromFile(optimFile, optim.metadata, optim.tensors);
    if (optimizer.step !== entry.optimizerStep) {
      throw new CheckpointError(optimFile, `${optimFile}: step ${optimizer.step}; manifest lists optimizerStep ${entry.optimizerStep}`);
    }
    models.set(entry.role, { role: entry.role, arch: entry.arch, tensors: model.tensors, optimizer });
  }
  return { dir, manifest, models };
}

async function readVerified(file: string, sha256: string): Promise<ReturnType<typeof decodeSafetensors>> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new CheckpointError(file, `${file}: listed in the manifest but cannot be read: ${(err as Error).message}`, { cause: err });
  }
  assertHash(file, sha256, sha256OfBytes(bytes));
  return decodeSafetensors(bytes, file);
}
