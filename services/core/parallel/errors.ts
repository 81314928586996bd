// Typed errors of data-parallel replica steps. The worker maps them to its own responses; nothing
// here knows about transports.

/** The replica group or the batch does not fit the step (field names the offending input). */
export class ReplicaConfigError extends Error {
  override readonly name = 'ReplicaConfigError';
  readonly kind = 'replica-config';
  constructor(
    readonly field: string,
    readonly bound: string,
    readonly found: number | string,
  ) {
    super(`${field}: expected ${bound}, found ${found}`);
  }
}

/** An option that replicas cannot make equivalent to one process (e.g. loss wgan-gp). */
export class ReplicaUnsupportedError extends Error {
  override readonly name = 'ReplicaUnsupportedError';
  readonly kind = 'replica-unsupported';
  constructor(
    readonly option: string,
    readonly value: string,
    readonly reason: string,
  ) {
    super(`${option} ${value} cannot run on data-parallel replicas: ${reason}`);
  }
}

/** A GroupSum answered with a buffer of the wrong length, or ranks called it out of step. */
export class CollectiveMismatchError extends Error {
  override readonly name = 'CollectiveMismatchError';
  readonly kind = 'collective-mismatch';
  constructor(
    readonly tag: string,
    readonly rank: number,
    readonly expected: number | string,
    readonly found: number | string,
  ) {
    super(`collective "${tag}" at rank ${rank}: expected ${expected}, found ${found}`);
  }
}
