// Errors of the data plane, and the one place where typed errors become gRPC status codes and
// back. Servers throw typed errors (their own or the math core's); GantryServer turns them into
// a status with toStatus(); clients turn a failed call into a PeerError with fromStatus().
//
//   TensorValidationError, RequestValidationError,
//   MalformedRequestError,
//   ShapeError, SnapshotMismatchError (core)      -> INVALID_ARGUMENT (the caller sent bad data)
//   NonFiniteError (core), WrongRunError,
//   StepNotArmedError, CollectiveRefusedError     -> FAILED_PRECONDITION (the model or the run is in a
//                                                     state the call cannot proceed from; retrying the
//                                                     same call cannot help)
//   PeerNotAllowedError                           -> PERMISSION_DENIED (mutual TLS: the caller's role may
//                                                     not call this method; peer-auth.ts)
//   a call the client cancelled                   -> CANCELLED (logged at info, no stack)
//   anything else                                 -> INTERNAL (a bug; the message is passed on)
//
// The error's class name (and, when it names one, the field) travel as trailing metadata
// (gantry-error-name, gantry-error-field) so a client can tell a NonFiniteError from a bug.
// Details are bounded (MAX_DETAILS_CHARS): no request can make an error echo it back whole.
import * as grpc from '@grpc/grpc-js';
import { NonFiniteError, ShapeError, SnapshotMismatchError } from '../core/errors.ts';
import { clipText } from '../telemetry/clip.ts';

/** A received tensor does not match what the receiver expects. `field` is e.g. "fake.shape[1]". */
export class TensorValidationError extends Error {
  override readonly name = 'TensorValidationError';
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly found: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: expected ${expected}, found ${found}`, options);
  }
}

/** A non-tensor request field is out of range (batch_size, id.step, a weights chunk). */
export class RequestValidationError extends Error {
  override readonly name = 'RequestValidationError';
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${field}: expected ${expected}, found ${found}`);
  }
}

/**
 * A request's bytes are not a protobuf message of the method's request type (truncated, bad wire
 * types, impossible lengths). grpc-js answers such bytes INTERNAL; GantryServer answers this instead.
 */
export class MalformedRequestError extends Error {
  override readonly name = 'MalformedRequestError';
  readonly field = 'request';
  constructor(
    /** e.g. "GeneratorService/Generate". */
    readonly method: string,
    readonly bytes: number,
    options?: { cause?: unknown },
  ) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(`request: expected a ${method} request message, found ${bytes} bytes that do not parse (${clipText(reason, 120)})`, options);
  }
}

/** The call's id.run_id is not the run this server serves. `found` is clipped (clipText) in the message. */
export class WrongRunError extends Error {
  override readonly name = 'WrongRunError';
  readonly field = 'id.run_id';
  constructor(
    readonly expected: string,
    readonly found: string,
  ) {
    super(`id.run_id: this server serves run ${JSON.stringify(expected)}, found ${JSON.stringify(clipText(found))}`);
  }
}

/**
 * A state-changing call for a step the current scheduler generation did not arm (step-gate.ts):
 * a foreign or stale caller. Nothing was changed.
 */
export class StepNotArmedError extends Error {
  override readonly name = 'StepNotArmedError';
  readonly field = 'id';
  constructor(
    readonly role: string,
    /** The refused gRPC method, e.g. "TrainStep". */
    readonly method: string,
    /** The (iteration, step) the call asked for; undefined when refused before reading it. */
    readonly found: { iteration: number; step: number } | undefined,
    /** The armed step, if any. */
    readonly expected: { generation: number; iteration: number; step: number } | undefined,
    expectedText: string,
  ) {
    const asked = found ? ` for (iteration ${found.iteration}, step ${found.step})` : '';
    super(`${method}${asked} refused: the ${role} executes only the step its scheduler commanded; expected ${expectedText}`);
  }
}

/**
 * With mutual TLS, the caller's certificate does not name a role allowed to call `method`
 * (peer-auth.ts). `seen` is the role in the certificate (undefined: none), `allowed` the roles
 * that may call. Nothing was run.
 */
export class PeerNotAllowedError extends Error {
  override readonly name = 'PeerNotAllowedError';
  readonly field = 'peer.role';
  constructor(
    /** e.g. "DiscriminatorService/TrainStep". */
    readonly method: string,
    readonly seen: string | undefined,
    readonly allowed: readonly string[],
    /** Why, when it is not simply the role (no identity, another run). */
    readonly reason?: string,
  ) {
    const who = seen === undefined ? 'a peer without a gantry role' : `role ${JSON.stringify(clipText(seen, 64))}`;
    super(`${method} refused for ${who}: allowed roles: ${allowed.join(', ')}${reason ? ` (${reason})` : ''}`);
  }
}

/** What a ring chunk or hello disagreed on (services/collective). */
export type CollectiveRefusal = 'run' | 'generation' | 'step' | 'sequence' | 'position' | 'layout' | 'rank' | 'size';

/**
 * A collective message was refused, never summed: it belongs to another run, an older or newer
 * generation, another step or collective (sequence), or is not the chunk the ring expects next
 * (position), or the two ends disagree on the buffer layout, ranks or group size.
 */
export class CollectiveRefusedError extends Error {
  override readonly name = 'CollectiveRefusedError';
  constructor(
    readonly kind: CollectiveRefusal,
    /** The message field, e.g. "chunk.id.generation". */
    readonly field: string,
    readonly expected: string,
    readonly found: string,
  ) {
    // `found` comes from the peer (a run id may be any length): clipped, as every echoed id.
    super(`${field}: expected ${clipText(expected, 120)}, found ${clipText(found, 120)} (${kind} refused, not summed)`);
  }
}

const RETRYABLE = new Set<grpc.status>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED]);

/** A call to a peer failed. `code` is the gRPC status; `remoteName` the server-side error class. */
export class PeerError extends Error {
  override readonly name: string = 'PeerError';
  readonly codeName: string;
  constructor(
    readonly code: grpc.status,
    /** e.g. "GeneratorService/Generate". */
    readonly method: string,
    /** The address the client dialled, e.g. "127.0.0.1:50051". */
    readonly peer: string,
    readonly details: string,
    readonly remoteName?: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    const codeName = grpc.status[code] ?? `status ${code}`;
    super(`${method} on ${peer}: ${codeName}: ${details}`, options);
    this.codeName = codeName;
  }

  /** True when the same call may succeed if retried (all gantry calls are idempotent by id). */
  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** The call's deadline passed before the peer answered. */
export class PeerDeadlineError extends PeerError {
  override readonly name = 'PeerDeadlineError';
}

/** The peer could not be reached or went away during the call. */
export class PeerUnavailableError extends PeerError {
  override readonly name = 'PeerUnavailableError';
}

/** Bounds of an error's details and field name on the wire (longer ones are clipped, saying so). */
export const MAX_DETAILS_CHARS = 1024;
const MAX_FIELD_CHARS = 128;

const ERROR_NAME_KEY = 'gantry-error-name';
const ERROR_FIELD_KEY = 'gantry-error-field';

function codeFor(err: unknown): grpc.status {
  if (err instanceof TensorValidationError || err instanceof RequestValidationError || err instanceof MalformedRequestError) return grpc.status.INVALID_ARGUMENT;
  if (err instanceof ShapeError || err instanceof SnapshotMismatchError) return grpc.status.INVALID_ARGUMENT;
  if (err instanceof NonFiniteError || err instanceof WrongRunError || err instanceof StepNotArmedError || err instanceof CollectiveRefusedError) {
    return grpc.status.FAILED_PRECONDITION;
  }
  if (err instanceof PeerNotAllowedError) return grpc.status.PERMISSION_DENIED;
  return grpc.status.INTERNAL;
}

/** The status a server answers for `err`. Details carry the message (with the field first). */
export function toStatus(err: unknown): grpc.StatusObject {
  const code = codeFor(err);
  const metadata = new grpc.Metadata();
  const name = err instanceof Error ? err.name : typeof err;
  metadata.set(ERROR_NAME_KEY, name);
  const field = (err as { field?: unknown } | null)?.field;
  // Metadata values must be printable ASCII (grpc-js throws otherwise); a field can echo a
  // received tensor name, which may hold anything.
  if (typeof field === 'string') metadata.set(ERROR_FIELD_KEY, clipText(field, MAX_FIELD_CHARS).replace(/[^ -~]/g, '?'));
  const message = err instanceof Error ? err.message : String(err);
  const details = code === grpc.status.INTERNAL ? `internal error: ${name}: ${message}` : message;
  return { code, details: clipText(details, MAX_DETAILS_CHARS), metadata };
}

function metadataString(md: grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/** The typed error for a failed call. */
export function fromStatus(err: Partial<grpc.StatusObject>, method: string, peer: string): PeerError {
  const code = err.code ?? grpc.status.UNKNOWN;
  const details = err.details ?? '';
  const remoteName = metadataString(err.metadata, ERROR_NAME_KEY);
  const field = metadataString(err.metadata, ERROR_FIELD_KEY);
  const Ctor =
    code === grpc.status.DEADLINE_EXCEEDED ? PeerDeadlineError
    : code === grpc.status.UNAVAILABLE ? PeerUnavailableError
    : PeerError;
  return new Ctor(code, method, peer, details, remoteName, field, { cause: err });
}
