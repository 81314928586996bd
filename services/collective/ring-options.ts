// The options of a RingGroup, their defaults, and their validation (each bad value is a
// CollectiveConfigError naming the field and the bound).
import { endianness } from 'node:os';
import type { ClientOptions } from '../wire/client.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../wire/server.ts';
import type { WorkerMetrics } from '../telemetry/worker-metrics.ts';
import type { CollectiveEndpoint } from './endpoint.ts';
import { CollectiveConfigError } from './errors.ts';

export const DEFAULT_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CHUNKS_IN_FLIGHT = 4;
export const DEFAULT_TIMEOUTS_MS = { connect: 10_000, collective: 60_000 } as const;

export interface RingGroupOptions {
  runId: string;
  /** Membership generation; chunks and hellos of any other generation are refused. */
  generation: number;
  rank: number;
  size: number;
  /** host:port of every rank's CollectiveService, by rank; ring order is rank order. */
  addresses: readonly string[];
  /** This rank's endpoint (CollectiveEndpoint added to its gRPC server); needed when size > 1. */
  endpoint?: CollectiveEndpoint;
  timeouts?: { connectMs?: number; collectiveMs?: number };
  /** Payload bytes per chunk, a multiple of 4; default 1 MiB. */
  chunkBytes?: number;
  /** Chunks sent to the right and not yet acknowledged; default 4. */
  maxChunksInFlight?: number;
  /** collective duration and bytes (op allreduce or all_gather). */
  metrics?: Pick<WorkerMetrics, 'collectiveDuration' | 'collectiveBytes'>;
  /** Channel options of the stream to the right (message limits, keepalive). */
  client?: ClientOptions;
}

export interface AllReduceOptions {
  /** Reduce into the given buffer and return it instead of a new array. */
  inPlace?: boolean;
}

export interface ResolvedOptions {
  runId: string;
  generation: number;
  rank: number;
  size: number;
  addresses: readonly string[];
  chunkBytes: number;
  window: number;
  connectMs: number;
  collectiveMs: number;
}

export function resolveOptions(opts: RingGroupOptions): ResolvedOptions {
  const { runId, generation, rank, size, addresses } = opts;
  if (endianness() !== 'LE') throw new CollectiveConfigError('host', 'a little-endian CPU (float32 views are sent as is)', endianness());
  if (typeof runId !== 'string' || runId === '') throw new CollectiveConfigError('runId', 'a non-empty string', JSON.stringify(runId));
  if (!Number.isSafeInteger(generation) || generation < 0) throw new CollectiveConfigError('generation', 'an integer >= 0', String(generation));
  if (!Number.isSafeInteger(size) || size < 1) throw new CollectiveConfigError('size', 'an integer >= 1', String(size));
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= size) throw new CollectiveConfigError('rank', `an integer in 0..${size - 1}`, String(rank));
  if (addresses.length !== size) throw new CollectiveConfigError('addresses', `${size} addresses (one per rank)`, `${addresses.length}`);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  // Headers of a chunk message (ids, position, varints) take well under 4 KiB.
  const maxChunk = (opts.client?.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES) - 4096;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0 || chunkBytes > maxChunk) {
    throw new CollectiveConfigError('chunkBytes', `a multiple of 4 in 4..${maxChunk} (the message limit less headers)`, String(chunkBytes));
  }
  const window = opts.maxChunksInFlight ?? DEFAULT_MAX_CHUNKS_IN_FLIGHT;
  if (!Number.isSafeInteger(window) || window < 1) throw new CollectiveConfigError('maxChunksInFlight', 'an integer >= 1', String(window));
  const connectMs = opts.timeouts?.connectMs ?? DEFAULT_TIMEOUTS_MS.connect;
  const collectiveMs = opts.timeouts?.collectiveMs ?? DEFAULT_TIMEOUTS_MS.collective;
  for (const [field, v] of [['timeouts.connectMs', connectMs], ['timeouts.collectiveMs', collectiveMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new CollectiveConfigError(field, 'a positive number of milliseconds', String(v));
  }
  if (size > 1 && !opts.endpoint) throw new CollectiveConfigError('endpoint', 'a CollectiveEndpoint when size > 1', 'none');
  return { runId, generation, rank, size, addresses, chunkBytes, window, connectMs, collectiveMs };
}
