// Typed errors of the math core. The CLI prints them; the gRPC edge maps them to status codes
// (services/wire/errors.ts); nothing inside the core knows about either.

/** A loss or gradient became NaN or Inf: the update was NOT applied and the run must stop. */
export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
  constructor(
    readonly quantity: string,
    readonly iteration: number,
    readonly value: number,
    options?: { cause?: unknown },
  ) {
    super(`${quantity} is ${value} at iteration ${iteration}; the update was not applied`, options);
  }
}

/** A tensor's shape does not match what the model expects. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
  constructor(
    readonly field: string,
    readonly expected: readonly number[],
    readonly found: readonly number[],
  ) {
    super(`${field}: expected shape [${expected.join(', ')}], found [${found.join(', ')}]`);
  }
}

/** A checkpoint or snapshot does not fit the model it is loaded into. */
export class SnapshotMismatchError extends Error {
  override readonly name = 'SnapshotMismatchError';
}
