// Shared by the data-parallel tests: N replicas run concurrently in one process against a local
// (barrier) group, next to one process on the whole batch, and a tensor-by-tensor comparison with
// the checkpoint diff's measure.
import { tf } from '../../services/core/tf.ts';
import type { Model } from '../../services/core/model.ts';
import type { Adam } from '../../services/core/optim.ts';
import { snapshotModel } from '../../services/core/snapshot.ts';
import { compareArrays } from '../../services/run/diff.ts';

/** Every weight, batch-norm statistic and Adam slot of a model, by name. */
export function stateOf(model: Model, optimizer: Adam): Map<string, Float32Array> {
  const s = snapshotModel(model, optimizer);
  return new Map([...s.tensors, ...s.optimizer.slots].map((t) => [t.name, t.data]));
}

/** The worst scale-relative difference (services/run/diff.ts) over all tensors, and where. */
export function worstDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { name: string; rel: number; abs: number } {
  let worst = { name: '', rel: 0, abs: 0 };
  for (const [name, x] of a) {
    const y = b.get(name);
    if (!y) throw new Error(`tensor ${name} missing on one side`);
    const { maxRelDiff, maxAbsDiff } = compareArrays(x, y);
    if (maxRelDiff >= worst.rel) worst = { name, rel: maxRelDiff, abs: maxAbsDiff };
  }
  return worst;
}

/** All differences above `tol`, for a readable failure message. */
export function diffsAbove(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number): string[] {
  return [...a].flatMap(([name, x]) => {
    const { maxRelDiff, maxAbsDiff } = compareArrays(x, b.get(name)!);
    return maxRelDiff > tol ? [`${name}: rel ${maxRelDiff.toExponential(2)} abs ${maxAbsDiff.toExponential(2)}`] : [];
  });
}

/** Rows [rank * B/N, (rank + 1) * B/N) of a global batch. */
export function sliceOf<T extends tf.Tensor>(x: T, rank: number, size: number): T {
  const rows = x.shape[0] / size;
  return tf.slice(x, rank * rows, rows) as T;
}
