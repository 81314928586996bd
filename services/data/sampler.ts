// Seeded, stateless batch sampling. The global sample stream is epoch 0's permutation of
// [0, count), then epoch 1's, and so on, each drawn by Fisher-Yates from
// mulberry32(deriveSeed(seed, 'data', epoch)). Global batch b is stream positions
// [b*B, (b+1)*B), so batches may straddle an epoch boundary. Any batch can be computed from
// (seed, b) alone: a resumed run or a newly joined replica needs no sampler state.
// Sharding: with `size` replicas, rank r takes the contiguous slice [r*B/size, (r+1)*B/size) of
// the global batch, so the shards are disjoint and together are exactly the global batch, which
// is what makes N replicas with batch B match one replica with batch B.
import { deriveSeed, mulberry32 } from './seed.ts';

export interface SamplerOptions {
  /** Number of samples in the dataset (positive). */
  count: number;
  /** Global batch size B (positive). */
  batchSize: number;
  seed: number;
}

export interface Shard {
  rank: number;
  size: number;
}

/** A seeded permutation of [0, n) by Fisher-Yates. */
export function permutation(n: number, seed: number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

export class BatchSampler {
  readonly count: number;
  readonly batchSize: number;
  readonly seed: number;
  /** count / batchSize; fractional when B does not divide count (batches straddle epochs). */
  readonly batchesPerEpoch: number;
  /** The two most recently used epochs: a batch spans at most two when B <= count. */
  private readonly cache = new Map<number, Uint32Array>();

  constructor(opts: SamplerOptions) {
    checkPositiveInt('count', opts.count);
    checkPositiveInt('batchSize', opts.batchSize);
    if (!Number.isInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${opts.seed}`);
    this.count = opts.count;
    this.batchSize = opts.batchSize;
    this.seed = opts.seed;
    this.batchesPerEpoch = opts.count / opts.batchSize;
  }

  /** The epoch of the first sample of global batch `b`. */
  epochOf(globalBatch: number): number {
    return Math.floor((globalBatch * this.batchSize) / this.count);
  }

  /** The permutation that epoch `epoch` of the stream follows. */
  epochPermutation(epoch: number): Uint32Array {
    let perm = this.cache.get(epoch);
    if (perm) return perm;
    perm = permutation(this.count, deriveSeed(this.seed, 'data', epoch));
    if (this.cache.size >= 2) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(epoch, perm);
    return perm;
  }

  /** Dataset indices of global batch `b`, or of one shard's slice of it. */
  indices(globalBatch: number, shard?: Shard): Uint32Array {
    if (!Number.isSafeInteger(globalBatch) || globalBatch < 0) {
      throw new RangeError(`globalBatch must be a non-negative integer, got ${globalBatch}`);
    }
    const [begin, length] = this.sliceOf(shard);
    const out = new Uint32Array(length);
    let pos = globalBatch * this.batchSize + begin;
    let filled = 0;
    while (filled < length) {
      // Copy the run of positions that lies inside one epoch in one go.
      const epoch = Math.floor(pos / this.count);
      const at = pos - epoch * this.count;
      const take = Math.min(length - filled, this.count - at);
      out.set(this.epochPermutation(epoch).subarray(at, at + take), filled);
      filled += take;
      pos += take;
    }
    return out;
  }

  /** [offset within the global batch, length] of a shard's slice. */
  private sliceOf(shard?: Shard): [number, number] {
    if (!shard) return [0, this.batchSize];
    const { rank, size } = shard;
    checkPositiveInt('shard size', size);
    if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
      throw new RangeError(`shard rank must be in 0..${size - 1}, got ${rank}`);
    }
    if (this.batchSize % size !== 0) {
      throw new RangeError(`global batch size ${this.batchSize} is not divisible by shard count ${size}`);
    }
    const per = this.batchSize / size;
    return [rank * per, per];
  }
}

/**
 * A seeded split of [0, count) into disjoint train and validation index sets, each sorted
 * ascending. Independent of the data-order stream (purpose 'split', not 'data').
 */
export function splitTrainValidation(count: number, validationCount: number, seed: number): { train: Uint32Array; validation: Uint32Array } {
  checkPositiveInt('count', count);
  if (!Number.isSafeInteger(validationCount) || validationCount < 0 || validationCount >= count) {
    throw new RangeError(`validationCount must be in 0..${count - 1} (count ${count}), got ${validationCount}`);
  }
  const perm = permutation(count, deriveSeed(seed, 'split'));
  const validation = perm.slice(0, validationCount).sort();
  const train = perm.slice(validationCount).sort();
  return { train, validation };
}
