// The replica group as the math core sees it: a rank, a size and an element-wise sum over the
// group. The transport (ring all-reduce over gRPC, services/collective/; or the in-process
// barrier of local-group.ts) is injected; the core never imports one.
//
// Collective protocol of one replica step (every rank calls sum() in the same order with the same
// tags and lengths; a step whose collective fails is redone by the caller, never half-applied: no
// variable is assigned before the last sum has returned). <pass> is "x" (classifier), "real+fake"
// (D-step: both batches in lockstep, the vectors concatenated real first) or "fake" (G-step):
//   forward, per batch norm k:   "<pass>/<bn>/sum"    [sum x]                      (C,) per batch
//                                "<pass>/<bn>/sumsq"  [sum (x - mean)^2]           (C,) per batch
//   backward, per batch norm k:  "<pass>/<bn>/grad"   [sum dy, sum dy * x_hat]     (2C,) per batch
//   last:                        "grads"              [every param's gradient in model.params order,
//                                                      then the step's scalars (loss, ...)]
//                                or, for the G-step, "gen/metrics" [L_G share, D(G(z)) share]
// With syncBatchNorm false the per-batch-norm sums are skipped (each rank normalises with its own
// statistics) and "grads" also carries each batch norm's local [mean, variance], averaged over
// the group for the moving statistics so that every rank keeps the same state.
// With exact sums (microBatches M, micro-batches.ts) the tags are the same, but each is a gather()
// instead of a sum(): every vector is M slots long (each micro-batch's vector in its own slot,
// rank r's M/N slots its block r) and the batch-norm sums pool all of the batch's micro-batches.
import { CollectiveMismatchError, ReplicaConfigError } from './errors.ts';
import { ShapeError } from '../errors.ts';

/** Element-wise sum of `buf` over the replica group; every rank receives the bit-identical result.
 *  `tag` names what is summed ("bn2/moments", "grads", ...) for errors and metrics. The caller
 *  gives `buf` away: a transport may reduce into it and return it (it holds garbage if the sum
 *  rejects), so callers pass a buffer they never read again. */
export type GroupSum = (buf: Float32Array, tag: string) => Promise<Float32Array>;

/** All-gather over the replica group: `buf` is N equal blocks, rank r's own values in block r
 *  ([r L/N, (r+1) L/N)); every rank receives `buf` with every block filled by its rank, the same
 *  bits everywhere. Nothing is summed. As GroupSum, the caller gives `buf` away. */
export type GroupGather = (buf: Float32Array, tag: string) => Promise<Float32Array>;

export interface ReplicaGroup {
  rank: number;
  size: number;
  sum: GroupSum;
  gather: GroupGather;
  /** true (the default of the train config): batch norm uses the group's statistics, and N
   *  replicas at global batch B train exactly as one process at batch B. false: each replica
   *  normalises with its own slice's statistics: cheaper, NOT equivalent to one process. */
  syncBatchNorm: boolean;
}

/** The rows of this rank's slice; throws ReplicaConfigError naming the field and the bound. */
export function sliceRows(group: ReplicaGroup, globalBatch: number, rows: number, field: string): number {
  if (!Number.isInteger(group.size) || group.size < 1) throw new ReplicaConfigError('group.size', 'an integer >= 1', group.size);
  if (!Number.isInteger(group.rank) || group.rank < 0 || group.rank >= group.size) {
    throw new ReplicaConfigError('group.rank', `an integer in [0, ${group.size - 1}]`, group.rank);
  }
  if (!Number.isInteger(globalBatch) || globalBatch < group.size || globalBatch % group.size !== 0) {
    throw new ReplicaConfigError('globalBatch', `a multiple of the group size ${group.size}`, globalBatch);
  }
  const expected = globalBatch / group.size;
  if (rows !== expected) throw new ReplicaConfigError(`${field}.shape[0]`, `globalBatch / group.size = ${expected}`, rows);
  return expected;
}

/** sliceRows for a batch x (b, ...inputShape); a wrong per-row shape is a ShapeError naming the field. */
export function checkSlice(group: ReplicaGroup, globalBatch: number, shape: readonly number[], inputShape: readonly number[], field: string): number {
  const rows = sliceRows(group, globalBatch, shape[0], field);
  const expected = [rows, ...inputShape];
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) throw new ShapeError(field, expected, shape);
  return rows;
}

/** group.sum with the length checked: a wrong-length answer is a transport bug, never data. */
export async function checkedSum(group: ReplicaGroup, buf: Float32Array, tag: string): Promise<Float32Array> {
  return checkedLength(group, buf.length, tag, await group.sum(buf, tag));
}

/** group.gather with the same check (and `buf` made of N equal blocks). */
export async function checkedGather(group: ReplicaGroup, buf: Float32Array, tag: string): Promise<Float32Array> {
  if (buf.length % group.size !== 0) throw new CollectiveMismatchError(tag, group.rank, `a multiple of the group size ${group.size} elements`, `${buf.length}`);
  return checkedLength(group, buf.length, tag, await group.gather(buf, tag));
}

function checkedLength(group: ReplicaGroup, length: number, tag: string, out: Float32Array): Float32Array {
  if (out.length !== length) throw new CollectiveMismatchError(tag, group.rank, `${length} elements`, `${out.length}`);
  return out;
}
