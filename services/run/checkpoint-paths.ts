// Names of checkpoint directories: iter-000100 when complete, iter-000100.partial while written.
// Iterations past 999999 simply get more digits; sorting is numeric, never by name.
import path from 'node:path';

const DIR_RE = /^iter-(\d{6,})(\.partial)?$/;
export const PARTIAL_SUFFIX = '.partial';

export function checkpointDirName(iteration: number): string {
  if (!Number.isSafeInteger(iteration) || iteration < 0) {
    throw new RangeError(`checkpoint iteration must be a non-negative integer, got ${iteration}`);
  }
  return `iter-${String(iteration).padStart(6, '0')}`;
}

/** Where a checkpoint is assembled before it is committed. */
export function stagingDirFor(checkpointsRoot: string, iteration: number): string {
  return path.join(checkpointsRoot, checkpointDirName(iteration) + PARTIAL_SUFFIX);
}

/** Where a committed checkpoint lives. */
export function finalDirFor(checkpointsRoot: string, iteration: number): string {
  return path.join(checkpointsRoot, checkpointDirName(iteration));
}

/** {iteration, partial} for a checkpoint directory name, undefined for anything else. */
export function parseCheckpointDirName(name: string): { iteration: number; partial: boolean } | undefined {
  const m = DIR_RE.exec(name);
  if (!m) return undefined;
  return { iteration: Number(m[1]), partial: m[2] !== undefined };
}
