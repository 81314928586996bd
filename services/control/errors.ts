// Errors of the control plane. A remote failure arrives as a reply {ok:false, error:{code, ...}}
// and is rethrown here as CommandFailed with the same code; a silent peer (timeout, no
// responders) is RoleUnavailable, which the scheduler treats as a dead service.
import { RunFileError } from '../run/errors.ts';

/** Error codes a service answers with; the scheduler decides what to do by code. */
export const ERROR_CODES = [
  'bad-request', // the message did not validate; `field` names the first bad field
  'wrong-run', // the command is for another run id
  'stale-generation', // the command carries a generation the service was not restored into
  'not-ready', // no restore has been received yet
  'non-finite', // NaN or Inf in a loss or gradient; `quantity` and `iteration` say which
  'peer-unavailable', // the gRPC peer did not answer; `role` says which
  'write-failed', // a file of the run could not be written (a full disk...); `file` names it
  'internal', // anything else
  'unexpected-reply', // (scheduler side) an answer contradicted its command, e.g. applied=false for a step sent once
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A control message (command, reply, heartbeat, control, run state) failed validation. */
export class MessageError extends Error {
  override readonly name = 'MessageError';
  constructor(
    /** Dotted path of the first invalid field, '' for the whole message. */
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RemoteErrorDetails {
  code: ErrorCode;
  message: string;
  field?: string;
  quantity?: string;
  iteration?: number;
  role?: string;
  file?: string;
}

/** A service answered a command with {ok:false}. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
  readonly code: ErrorCode;
  constructor(
    readonly role: string,
    readonly details: RemoteErrorDetails,
    options?: { cause?: unknown },
  ) {
    super(`${role} answered ${details.code}: ${details.message}`, options);
    this.code = details.code;
  }
}

/** A service did not answer in time, or nobody listens on its subject. */
export class RoleUnavailable extends Error {
  override readonly name = 'RoleUnavailable';
  constructor(
    readonly role: string,
    readonly reason: 'timeout' | 'no-responders' | 'silent',
    message: string,
    options?: { cause?: unknown; /** the member of a replica group (0: rank 0, or no group) */ rank?: number },
  ) {
    super(message, options);
    this.rank = options?.rank ?? 0;
  }

  readonly rank: number;
}

/** A compare-and-set of the run state lost: another scheduler wrote it first. */
export class RunStateConflict extends Error {
  override readonly name = 'RunStateConflict';
  constructor(
    readonly runId: string,
    readonly expectedRevision: number,
    options?: { cause?: unknown },
  ) {
    super(`run ${runId}: the run state changed since revision ${expectedRevision}; another scheduler owns this run`, options);
  }
}

/** Thrown by a service's command handler to answer with a specific code. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Omit<RemoteErrorDetails, 'code' | 'message'> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A restore that names a checkpoint the service cannot load (missing, half-written, damaged): the
 * command is refused as a bad request naming the path, not answered as the service's own fault.
 * Other errors pass through.
 */
export function checkpointRefused(err: unknown, checkpointPath: string): unknown {
  if (!(err instanceof RunFileError)) return err;
  return new ServiceError('bad-request', `checkpoint.path: ${checkpointPath} cannot be restored: ${err.message}`, { field: 'checkpoint.path' }, { cause: err });
}
