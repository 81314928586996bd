// How an error reaches the terminal: one line per cause, no stack unless GANTRY_DEBUG is set.
import { EXIT_CODES, isAddressInUse } from '../control/lifecycle.ts';
import { envFlag } from '../env/mod.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Thrown by commands whose check failed (e.g. `checkpoint diff` above tolerance): exit 1, no stack. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

export function formatError(err: unknown): string {
  if (envFlag('GANTRY_DEBUG') && err instanceof Error && err.stack) return err.stack;
  const parts: string[] = [];
  let cur: unknown = err;
  while (cur !== undefined && parts.length < 8) {
    parts.push(cur instanceof Error ? cur.message : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join('\n  caused by: ');
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT_CODES.usage;
  if (isAddressInUse(err)) return EXIT_CODES.addressInUse;
  return 1;
}
