// An in-process replica group: N ranks in one process (async functions on one event loop) whose
// GroupSum and GroupGather are a barrier. Protocol: each rank's n-th call is matched with every
// other rank's n-th call; they must agree on the operation, tag and length (else
// CollectiveMismatchError for all of them); when the N-th contribution arrives the buffers are
// summed in rank order in float32 (a sum) or block r is taken from rank r (a gather), and every
// rank gets its own copy of the same result (a group of one returns the caller's buffer: its sum
// and its gather are itself).
// Tests and an in-process trainer use it; a distributed run injects the gRPC ring all-reduce
// instead.
import type { ReplicaGroup } from './group.ts';
import { CollectiveMismatchError } from './errors.ts';

interface Round {
  op: 'sum' | 'gather';
  tag: string;
  length: number;
  parts: (Float32Array | undefined)[];
  waiters: { resolve: (v: Float32Array) => void; reject: (e: Error) => void }[];
  arrived: number;
}

export interface LocalGroupOptions {
  syncBatchNorm?: boolean;
  /** Called with every completed sum (tag, length): tests count the collectives. */
  onSum?: (tag: string, length: number) => void;
}

export function localReplicaGroups(size: number, opts: LocalGroupOptions = {}): ReplicaGroup[] {
  const rounds = new Map<number, Round>();
  const calls = new Array<number>(size).fill(0);
  const collective = (op: Round['op'], rank: number) => (buf: Float32Array, tag: string): Promise<Float32Array> => {
    if (size === 1) { // GroupSum's contract: the caller gave buf away
      opts.onSum?.(tag, buf.length);
      return Promise.resolve(buf);
    }
    const n = calls[rank]++;
    let round = rounds.get(n);
    if (!round) {
      round = { op, tag, length: buf.length, parts: new Array(size).fill(undefined), waiters: [], arrived: 0 };
      rounds.set(n, round);
    }
    const r = round;
    return new Promise<Float32Array>((resolve, reject) => {
      r.waiters.push({ resolve, reject });
      if (r.op !== op || r.tag !== tag || r.length !== buf.length) {
        const err = new CollectiveMismatchError(r.tag, rank, `${r.op} "${r.tag}" of ${r.length}`, `${op} "${tag}" of ${buf.length}`);
        rounds.delete(n);
        for (const w of r.waiters) w.reject(err);
        return;
      }
      r.parts[rank] = buf; // given away by the caller (GroupSum)
      if (++r.arrived < size) return;
      rounds.delete(n);
      const out = new Float32Array(r.length);
      if (op === 'sum') { // float32 accumulation, rank 0 first
        for (const part of r.parts) for (let i = 0; i < out.length; i++) out[i] += part![i];
      } else {
        const block = r.length / size;
        r.parts.forEach((part, q) => out.set(part!.subarray(q * block, (q + 1) * block), q * block));
      }
      opts.onSum?.(tag, r.length);
      for (const w of r.waiters) w.resolve(Float32Array.from(out));
    });
  };
  return Array.from({ length: size }, (_, rank) => ({
    rank, size, sum: collective('sum', rank), gather: collective('gather', rank), syncBatchNorm: opts.syncBatchNorm ?? true,
  }));
}
