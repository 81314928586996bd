// The seam between a replica process (a classifier worker, a discriminator replica) and the
// collective of its generation. The process owns one CollectiveEndpoint on its gRPC server (added before listen()); each
// generation opens a RingGroup of its own on it and closes it when the next one is prepared, so
// a sum in flight of a failed generation rejects and the step is rolled back.
import { CollectiveEndpoint } from './endpoint.ts';
import { RingGroup } from './ring-group.ts';
import type { CollectiveMetrics } from '../telemetry/collective-metrics.ts';
import type { GrpcTls } from '../wire/tls.ts';

/** The sum a replica step asks of its group (core/parallel's GroupSum, by shape: this folder
 *  holds no model code): `buf` is given away, the result is the group's element-wise sum. */
export type GroupSum = (buf: Float32Array, tag: string) => Promise<Float32Array>;
/** core/parallel's GroupGather, by shape: rank r's block r of `buf` to every rank (RingGroup.allGather). */
export type GroupGather = (buf: Float32Array, tag: string) => Promise<Float32Array>;

export interface GroupHandle {
  /** The membership generation this group was opened for. */
  readonly generation: number;
  readonly rank: number;
  readonly size: number;
  /** The step whose collectives sum() belongs to (stamped on every collective). */
  step: number;
  readonly sum: GroupSum;
  readonly gather: GroupGather;
  /** Opens the stream to the right neighbour (resolves once its group of this generation accepted it). */
  connect(): Promise<void>;
  /** Time spent waiting in sum() and gather() since the last call, and how many: the fused
   *  gradient buffer ("grads") apart from the rest (sync batch norm's moments and their gradients). */
  takeWait(): CollectiveWait;
  /** Aborts any sum in flight (it rejects) and releases the streams. */
  close(): void;
}

export interface CollectiveWait {
  /** Seconds in the "grads" sum (one per step). */
  gradsSeconds: number;
  /** Seconds in every other sum (sync batch norm: 3 per batch-norm layer per step). */
  otherSeconds: number;
  /** Sums of either kind. */
  calls: number;
}

export interface GroupSpec {
  runId: string;
  generation: number;
  rank: number;
  /** The members' gRPC addresses by rank (ring order). */
  addresses: readonly string[];
  endpoint: CollectiveEndpoint;
  /** Deadline of one collective (a stalled neighbour fails the step after this). */
  collectiveMs: number;
  /** Deadline of opening the ring link (the neighbour must have opened its group); default the ring's (DEFAULT_TIMEOUTS_MS.connect). */
  connectMs?: number;
  metrics?: Pick<CollectiveMetrics, 'collectiveDuration' | 'collectiveBytes'>;
  tls?: GrpcTls;
}

export function openGroup(spec: GroupSpec): GroupHandle {
  const size = spec.addresses.length;
  const ring = new RingGroup({
    runId: spec.runId, generation: spec.generation, rank: spec.rank, size, addresses: spec.addresses,
    endpoint: spec.endpoint, timeouts: { collectiveMs: spec.collectiveMs, ...(spec.connectMs === undefined ? {} : { connectMs: spec.connectMs }) }, metrics: spec.metrics, client: { tls: spec.tls },
  });
  let wait: CollectiveWait = { gradsSeconds: 0, otherSeconds: 0, calls: 0 };
  const timed = async (tag: string, run: () => Promise<Float32Array>): Promise<Float32Array> => {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      const s = (performance.now() - t0) / 1000;
      if (tag === 'grads') wait.gradsSeconds += s;
      else wait.otherSeconds += s;
      wait.calls++;
    }
  };
  const handle: GroupHandle = {
    generation: spec.generation, rank: spec.rank, size, step: 0,
    // The fused gradient buffer (26 MB for workshop) is reduced in place: no second buffer to
    // allocate and fill per step. Safe by GroupSum's contract (the caller never reads `buf`
    // again); the small sync-BN vectors are not worth it.
    sum: (buf, tag) => (size === 1 ? Promise.resolve(buf) : timed(tag, () => ring.allReduceSum(handle.step, buf, { inPlace: tag === 'grads' }))),
    gather: (buf, tag) => (size === 1 ? Promise.resolve(buf) : timed(tag, () => ring.allGather(handle.step, buf))),
    connect: () => ring.connect(),
    takeWait: () => {
      const w = wait;
      wait = { gradsSeconds: 0, otherSeconds: 0, calls: 0 };
      return w;
    },
    close: () => void ring.close().catch(() => undefined),
  };
  return handle;
}


