// The run directory's public surface: what trainers, services and the CLI import.
export type { TensorEntry } from './tensor-entry.ts';
export { readSafetensors, writeSafetensors, type SafetensorsContents, type SafetensorsWritten } from './safetensors.ts';
export {
  commitCheckpoint,
  prepareStagingDir,
  readCheckpoint,
  stagingDirFor,
  verifyCheckpoint,
  writeCheckpoint,
  writeModelFiles,
  type CheckpointRequest,
  type LoadedCheckpoint,
  type ManifestInput,
} from './checkpoint.ts';
export type { CheckpointKind, Manifest, ManifestModelEntry, ModelRole } from './manifest.ts';
export type { AdamState, ModelSnapshot } from './model-snapshot.ts';
export {
  latestCheckpoint,
  NoValidCheckpoint,
  resumePoint,
  listCheckpoints,
  pruneCheckpoints,
  resolveCheckpoint,
  type CheckpointInfo,
  type CheckpointListing,
  type PruneResult,
} from './checkpoint-list.ts';
export { diffCheckpoints, diffLoaded, DEFAULT_TOLERANCE, type DiffReport } from './diff.ts';
export { encodeGrid, writeGrid, type GridOptions } from './png-grid.ts';
export { MetricsLog, readMetrics, type MetricsRecord } from './metrics-log.ts';
export { lineage, recordPosition, RESUME_KIND } from './metrics-lineage.ts';
export { createProgress, type Progress, type ProgressOptions } from './progress.ts';
export {
  createRunDir,
  readConfig,
  readRunInfo,
  samplePath,
  updateRunInfo,
  writeConfig,
  writeRunInfo,
  type RunDir,
  type RunInfo,
  type RunKind,
  type RunStatus,
} from './run-dir.ts';
export { CheckpointError, RunDirError, RunFileError, RunWriteError, SafetensorsError } from './errors.ts';
