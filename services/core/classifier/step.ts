// The classifier's training step and evaluation. A step is split into "compute gradients" and
// "apply" so that data-parallel replicas can average the gradients in between.
import { tf } from '../tf.ts';
import { INFER, TRAIN, type ClassifierModel } from '../model.ts';
import { allFinite, type Adam } from '../optim.ts';
import { softmaxCrossEntropy } from '../losses.ts';
import { NonFiniteError } from '../errors.ts';

export interface ClassifierGrads {
  loss: number;
  /** Correct predictions in the batch (argmax of the logits). */
  correct: number;
  /** One gradient per model param, in model order. Caller disposes. */
  grads: tf.Tensor[];
}

/** Softmax cross-entropy gradients on a batch x (B, 28, 28, 1), labels (B,) int32. */
export function classifierGrads(model: ClassifierModel, x: tf.Tensor4D, labels: tf.Tensor1D): ClassifierGrads {
  const vars = model.params.map((p) => p.variable);
  let correctT: tf.Scalar | undefined;
  const { grads, value } = tf.variableGrads(() => {
    const logits = model.apply(x, TRAIN) as tf.Tensor2D; // (B, 10)
    correctT = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')) as tf.Scalar);
    return softmaxCrossEntropy(logits, labels);
  }, vars);
  const loss = value.dataSync()[0];
  const correct = correctT!.dataSync()[0];
  tf.dispose([value, correctT!]);
  return { loss, correct, grads: vars.map((v) => grads[v.name]) };
}

/** One optimizer step; throws NonFiniteError (without updating) when the loss is NaN or Inf. */
export function classifierStep(
  model: ClassifierModel,
  optimizer: Adam,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  step: number,
): { loss: number; accuracy: number } {
  const { loss, correct, grads } = classifierGrads(model, x, labels);
  try {
    if (!Number.isFinite(loss)) throw new NonFiniteError('classifier loss', step, loss);
    if (!allFinite(grads)) throw new NonFiniteError('classifier gradient', step, Number.NaN);
    optimizer.apply(grads);
  } finally {
    tf.dispose(grads);
  }
  return { loss, accuracy: correct / x.shape[0] };
}

/** Mean loss and accuracy in inference mode over batches produced by `batches`. */
export function evaluateClassifier(
  model: ClassifierModel,
  batches: Iterable<{ x: tf.Tensor4D; labels: tf.Tensor1D }>,
): { loss: number; accuracy: number; count: number } {
  const total = { lossSum: 0, correct: 0, count: 0 };
  for (const { x, labels } of batches) evaluateBatch(model, x, labels, total);
  return evaluationResult(total);
}

/**
 * evaluateClassifier giving the event loop a turn after every batch (a service's heartbeats and
 * commands keep flowing through an evaluation of thousands of images); the same numbers.
 */
export async function evaluateClassifierYielding(
  model: ClassifierModel,
  batches: Iterable<{ x: tf.Tensor4D; labels: tf.Tensor1D }>,
): Promise<{ loss: number; accuracy: number; count: number }> {
  const total = { lossSum: 0, correct: 0, count: 0 };
  for (const { x, labels } of batches) {
    evaluateBatch(model, x, labels, total);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return evaluationResult(total);
}

type EvalTotal = { lossSum: number; correct: number; count: number };

/** Adds one batch's summed loss and hits to `total`; disposes the batch. */
function evaluateBatch(model: ClassifierModel, x: tf.Tensor4D, labels: tf.Tensor1D, total: EvalTotal): void {
  const [l, c] = tf.tidy(() => {
    const logits = model.apply(x, INFER) as tf.Tensor2D;
    const loss = tf.mul(softmaxCrossEntropy(logits, labels), x.shape[0]);
    const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32'));
    return [loss.dataSync()[0], hits.dataSync()[0]];
  });
  tf.dispose([x, labels]);
  total.lossSum += l;
  total.correct += c;
  total.count += x.shape[0];
}

function evaluationResult(t: EvalTotal): { loss: number; accuracy: number; count: number } {
  return { loss: t.lossSum / Math.max(t.count, 1), accuracy: t.correct / Math.max(t.count, 1), count: t.count };
}
