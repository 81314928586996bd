// The seam between a worker and the collective of its generation. A group of size 1 sums
// nothing (the identity); a larger group needs the ring all-reduce of services/collective/
// (RingGroup over the worker's gRPC server), which this tree does not have yet: opening one
// fails with CollectiveUnavailable, so the scheduler sees a clear error instead of wrong math.

/** Sums a flat float32 buffer over the group; `tag` names the tensor group for error messages. */
export type GroupSum = (buf: Float32Array, tag: string) => Promise<Float32Array>;

export interface GroupHandle {
  readonly rank: number;
  readonly size: number;
  readonly sum: GroupSum;
  /** Seconds spent waiting in sum() since the last call of takeWaitSeconds(). */
  takeWaitSeconds(): number;
  /** Aborts any sum in flight (it rejects) and releases the streams. */
  close(): void;
}

export interface GroupSpec {
  runId: string;
  generation: number;
  rank: number;
  /** The members' gRPC addresses by rank. */
  addresses: readonly string[];
}

export class CollectiveUnavailable extends Error {
  override readonly name = 'CollectiveUnavailable';
  constructor(readonly size: number) {
    super(`size: a replica group of ${size} needs the ring all-reduce (services/collective), which this build lacks; run with 1 worker`);
  }
}

export function openGroup(spec: GroupSpec): GroupHandle {
  const size = spec.addresses.length;
  if (size !== 1) throw new CollectiveUnavailable(size);
  return {
    rank: 0, size: 1,
    sum: async (buf) => buf,
    takeWaitSeconds: () => 0,
    close: () => undefined,
  };
}
