// Exact sums (the `microBatches` setting): sums over the global batch that give the same bits
// whatever the group size. Summing in float32 in another order or grouping rounds differently,
// and Adam amplifies that round-off where its first moment nearly cancels, so N replicas
// otherwise match one process only to ~1e-3 after 20 steps. Here:
//   - the global batch of B rows is cut into M micro-batches of B/M rows, in row order; rank r
//     of N (N divides M) holds micro-batches [r M/N, (r+1) M/N);
//   - every sum over rows (batch-norm moments and their gradient sums, each parameter's gradient,
//     the loss) is first taken per micro-batch, by the same tfjs kernel on the same B/M rows
//     whatever N is, so each micro-batch's vector has the same bits on any group;
//   - slotSum gathers all M vectors on every rank: each rank writes its own into their slots of a
//     buffer of M slots (rank r's slots are its block r) and the group all-gathers it (nothing is
//     summed, so nothing is rounded: on the ring each rank sends (N-1)/N of the buffer), then adds
//     the M slots in slot order in float64 and rounds once to float32.
// One process (N = 1) runs the same code with all M micro-batches, so 1, 2, ... N replicas give
// bit-identical updates. The classifier (classifier-step.ts) and the discriminator
// (discriminator-step.ts: the real and the fake batch pooled apart; the G-step's dL/dG(z)) use
// it. The price: M/N forward and backward passes per rank instead of one, and M/2 times the bytes
// of a plain sum's all-reduce on the ring (a group of one builds no M-slot buffer: its parts are
// already every slot).
import { checkedGather, type ReplicaGroup } from './group.ts';
import { CollectiveMismatchError, ReplicaConfigError } from './errors.ts';

/** Where this rank's micro-batches sit among the global batch's M. */
export interface MicroSlots {
  /** The global index of this rank's first micro-batch. */
  first: number;
  /** Micro-batches on this rank (M / N). */
  count: number;
  /** M, the micro-batches of the global batch. */
  total: number;
}

/** This rank's slots; ReplicaConfigError when N does not divide M or M does not divide B. */
export function microSlots(group: ReplicaGroup, globalBatch: number, microBatches: number): MicroSlots {
  if (!Number.isInteger(microBatches) || microBatches < 1 || globalBatch % microBatches !== 0) {
    throw new ReplicaConfigError('microBatches', `an integer >= 1 dividing the global batch ${globalBatch}`, microBatches);
  }
  if (microBatches % group.size !== 0) {
    throw new ReplicaConfigError('group.size', `a divisor of microBatches ${microBatches}`, group.size);
  }
  const count = microBatches / group.size;
  return { first: group.rank * count, count, total: microBatches };
}

/**
 * The sum of every micro-batch's vector over the global batch, in slot order in float64, rounded
 * once: the same bits on every rank and for every group size. `parts`: this rank's vectors, one
 * per micro-batch, in order, all the same length. The group's all-gather carries M x length elements.
 */
export async function slotSum(group: ReplicaGroup, parts: readonly Float32Array[], slots: MicroSlots, tag: string): Promise<Float32Array> {
  if (parts.length !== slots.count) throw new CollectiveMismatchError(tag, group.rank, `${slots.count} micro-batch vectors`, `${parts.length}`);
  const len = parts[0].length;
  for (const p of parts) if (p.length !== len) throw new CollectiveMismatchError(tag, group.rank, `vectors of ${len} elements`, `${p.length}`);
  let slot: (s: number) => Float32Array;
  if (group.size === 1) {
    slot = (s) => parts[s]; // this rank holds every slot, in order
  } else {
    const buf = new Float32Array(slots.total * len);
    parts.forEach((p, i) => buf.set(p, (slots.first + i) * len));
    const all = await checkedGather(group, buf, tag);
    slot = (s) => all.subarray(s * len, (s + 1) * len);
  }
  const acc = new Float64Array(len);
  for (let s = 0; s < slots.total; s++) {
    const v = slot(s);
    for (let i = 0; i < len; i++) acc[i] += v[i];
  }
  return Float32Array.from(acc);
}
