// Where every value of a ring all-reduce travels. Pure arithmetic, no I/O.
//
// The fused buffer of L float32 values is cut into N segments (N = group size),
//   segment s = [floor(s * L / N), floor((s + 1) * L / N))        (lengths differ by at most 1),
// and each segment into chunks of C values (the last one shorter; an empty segment has none).
// Rank r, left = (r - 1) mod N, right = (r + 1) mod N:
//   reduce-scatter ring step k = 0..N-2: send segment (r - k) mod N, receive (r - k - 1) mod N and
//     add the local values to it; what is received at step k is what is sent at step k + 1, so each
//     chunk is forwarded as soon as it is reduced (the pipeline). After step N - 2, rank r holds the
//     full sum of segment (r + 1) mod N, its owned segment, summed in the fixed order
//     x[s] + x[s+1] + ... + x[s-1] (indices mod N, left to right).
//   all-gather ring step k = 0..N-2: send segment (r + 1 - k) mod N, receive (r - k) mod N and copy it.
// Every rank ends with bytes its owner computed, so all ranks are bit-identical.
// A plain all-gather (each rank contributes segment r, nothing is summed) is the all-gather phase
// alone with segment r as rank r's own: ring step k sends segment (r - k) mod N and receives
// (r - k - 1) mod N, the reduce-scatter's positions, carried as phase ALL_GATHER; (N-1)/N of the
// buffer goes through each rank, half of what an all-reduce of the same buffer sends.
import { CollectiveConfigError } from './errors.ts';

export const mod = (a: number, n: number): number => ((a % n) + n) % n;

export class RingPlan {
  constructor(
    /** L: float32 values in the buffer. */
    readonly elements: number,
    /** N: ranks in the ring. */
    readonly size: number,
    /** C: values per chunk. */
    readonly chunkElements: number,
  ) {
    if (!Number.isSafeInteger(elements) || elements < 0) throw new CollectiveConfigError('buffer.length', 'a non-negative integer', String(elements));
    if (!Number.isSafeInteger(size) || size < 1) throw new CollectiveConfigError('size', 'an integer >= 1', String(size));
    if (!Number.isSafeInteger(chunkElements) || chunkElements < 1) {
      throw new CollectiveConfigError('chunkElements', 'an integer >= 1', String(chunkElements));
    }
  }

  segmentStart(s: number): number {
    // s * L stays exact below 2^53 for any buffer that fits in memory.
    return Math.floor((s * this.elements) / this.size);
  }

  segmentLength(s: number): number {
    return this.segmentStart(s + 1) - this.segmentStart(s);
  }

  chunkCount(s: number): number {
    return Math.ceil(this.segmentLength(s) / this.chunkElements);
  }

  /** [start, end) of chunk c of segment s, in values of the whole buffer. */
  chunkRange(s: number, c: number): [number, number] {
    const base = this.segmentStart(s);
    const start = base + c * this.chunkElements;
    return [start, Math.min(start + this.chunkElements, base + this.segmentLength(s))];
  }

  rsSend(rank: number, k: number): number { return mod(rank - k, this.size); }
  rsRecv(rank: number, k: number): number { return mod(rank - k - 1, this.size); }
  agSend(rank: number, k: number): number { return mod(rank + 1 - k, this.size); }
  agRecv(rank: number, k: number): number { return mod(rank - k, this.size); }
  owned(rank: number): number { return mod(rank + 1, this.size); }
  /** A plain all-gather: rank r's own segment is r. */
  gatherSend(rank: number, k: number): number { return mod(rank - k, this.size); }
  gatherRecv(rank: number, k: number): number { return mod(rank - k - 1, this.size); }

  /** Chunks rank r receives in a phase (GATHER: a plain all-gather): every segment but one passes through it once. */
  receives(rank: number, phase: 'REDUCE_SCATTER' | 'ALL_GATHER' | 'GATHER'): number {
    const recv = phase === 'REDUCE_SCATTER' ? this.rsRecv : phase === 'ALL_GATHER' ? this.agRecv : this.gatherRecv;
    let n = 0;
    for (let k = 0; k < this.size - 1; k++) n += this.chunkCount(recv.call(this, rank, k));
    return n;
  }
}
