// The data-parallel classifier step with per-replica batch-norm statistics (the documented,
// non-equivalent option; SyncBatchNorm is the equivalent one). Each rank computes the gradients
// of its slice (B/n images) with batch-norm moments of that slice, the fused gradient buffer is
// summed over the group and divided by n (each slice's loss is a mean over B/n, so the mean of
// the n slice gradients is the gradient of the mean over B when the moments are per replica),
// and every rank applies the same Adam update. The moving statistics, which each rank updated
// from its own slice, are then averaged over the group, so the ranks stay bit-identical.
//
// Fused buffer layout, float32: [grad(param 0) ... grad(param P-1), loss * b, correct], b = B/n.
import { tf } from '../core/tf.ts';
import type { ClassifierModel } from '../core/model.ts';
import type { Adam } from '../core/optim.ts';
import { classifierGrads } from '../core/classifier/step.ts';
import { NonFiniteError } from '../core/errors.ts';
import type { GroupSum } from './group.ts';

export interface ReplicaStepGroup {
  size: number;
  sum: GroupSum;
}

/** One update from this rank's slice x (b, 28, 28, 1), labels (b,); returns the global mean loss and accuracy. */
export async function perReplicaStatsStep(
  model: ClassifierModel, optimizer: Adam, x: tf.Tensor4D, labels: tf.Tensor1D, group: ReplicaStepGroup, step: number,
): Promise<{ loss: number; accuracy: number }> {
  const b = x.shape[0];
  const { loss, correct, grads } = classifierGrads(model, x, labels);
  const sizes = grads.map((g) => g.size);
  const total = sizes.reduce((n, s) => n + s, 0);
  const fused = new Float32Array(total + 2);
  try {
    let at = 0;
    for (const g of grads) {
      fused.set(g.dataSync() as Float32Array, at);
      at += g.size;
    }
  } finally {
    tf.dispose(grads);
  }
  fused[total] = loss * b;
  fused[total + 1] = correct;
  const summed = await group.sum(fused, 'gradients');
  const globalBatch = b * group.size;
  const globalLoss = summed[total] / globalBatch;
  if (!Number.isFinite(globalLoss)) throw new NonFiniteError('classifier loss', step, globalLoss);
  const mean = tf.tidy(() => {
    let at = 0;
    return model.params.map((p, i) => {
      const slice = summed.subarray(at, at + sizes[i]);
      at += sizes[i];
      return tf.div(tf.tensor(slice, p.variable.shape), group.size);
    });
  });
  try {
    optimizer.apply(mean);
  } finally {
    tf.dispose(mean);
  }
  await averageState(model, group);
  return { loss: globalLoss, accuracy: summed[total + 1] / globalBatch };
}

/** Batch-norm moving statistics averaged over the group (one fused buffer in model.state order). */
async function averageState(model: ClassifierModel, group: ReplicaStepGroup): Promise<void> {
  if (model.state.length === 0) return;
  const sizes = model.state.map((s) => s.variable.size);
  const buf = new Float32Array(sizes.reduce((n, s) => n + s, 0));
  let at = 0;
  for (const s of model.state) {
    buf.set(s.variable.dataSync() as Float32Array, at);
    at += s.variable.size;
  }
  const summed = await group.sum(buf, 'batch-norm statistics');
  at = 0;
  tf.tidy(() => {
    model.state.forEach((s, i) => {
      s.variable.assign(tf.div(tf.tensor(summed.subarray(at, at + sizes[i]), s.variable.shape), group.size));
      at += sizes[i];
    });
  });
}
