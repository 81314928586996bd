// What every network in gantry is: an ordered list of named variables and a forward function.
// Models are written as plain functions over explicit variables (as the workshop's TF1 code is),
// not with tf.layers, so that the in-process trainer and the services run exactly the same ops in
// the same order and batch-norm statistics are updated only where a step says so.
import type { tf } from './tf.ts';

export type ModelRole = 'generator' | 'discriminator' | 'classifier';

/** How a forward pass treats batch norm. */
export interface ForwardMode {
  /** Normalize with the batch's statistics (true) or the moving averages (false). */
  training: boolean;
  /** Fold the batch statistics into the moving averages (only meaningful when training). */
  updateStats: boolean;
  /** Handed each batch norm's batch statistics, next to the moving averages they belong to
   *  (only when training): standing-stats.ts re-estimates the averages with it. */
  observeStats?: (moving: { mean: tf.Variable; variance: tf.Variable }, mean: tf.Tensor, variance: tf.Tensor) => void;
}

export const TRAIN: ForwardMode = { training: true, updateStats: true };
export const TRAIN_NO_STATS: ForwardMode = { training: true, updateStats: false };
export const INFER: ForwardMode = { training: false, updateStats: false };

/** A variable with its stable, checkpointed name, e.g. "conv1/kernel" or "bn2/moving_mean". */
export interface NamedVariable {
  readonly name: string;
  readonly variable: tf.Variable;
}

/**
 * One piece of a network between its batch-norm layers: a pure function of its input and of its
 * variables (no batch norm inside, no state). A model's segments, run in order with each segment's
 * `bn` applied to its output, ARE its forward pass (the model's own forward is built from them), so
 * data-parallel replicas (core/parallel/) can synchronise each batch norm's statistics across the
 * group between segments and chain vector-Jacobian products back through them.
 */
export interface Segment {
  /** For errors and collective tags, e.g. "bn2" (the batch norm it feeds) or "out". */
  readonly name: string;
  /** The trainable variables apply() reads (not the batch norm's gamma and beta). */
  readonly params: readonly tf.Variable[];
  apply(x: tf.Tensor): tf.Tensor;
  /** The batch norm applied to apply()'s output; absent on the last segment only. */
  readonly bn?: BatchNorm;
}

export interface Model {
  readonly role: ModelRole;
  /** Preset-independent description of the architecture, written into checkpoints. */
  readonly arch: Record<string, unknown>;
  /** Input shape without the batch dimension, e.g. [100] for z or [28, 28, 1] for images. */
  readonly inputShape: readonly number[];
  /** Output shape without the batch dimension. */
  readonly outputShape: readonly number[];
  /** Trained by the optimizer, in a fixed order (the order of fused gradient buffers). */
  readonly params: readonly NamedVariable[];
  /** Non-trainable state (batch-norm moving mean and variance), checkpointed with the params. */
  readonly state: readonly NamedVariable[];
  /** The forward pass as segments between batch norms (see Segment); absent for models that
   *  data-parallel replicas do not run (the generators). */
  readonly segments?: readonly Segment[];
  /** The network's output for a batch. Callers own the returned tensor. */
  apply(x: tf.Tensor, mode: ForwardMode): tf.Tensor;
  dispose(): void;
}

/** A classifier also exposes its penultimate features (the Fréchet-distance embedding). */
export interface ClassifierModel extends Model {
  readonly role: 'classifier';
  /** features: (B, F) activations before the logits layer; logits: (B, numClasses). */
  embed(x: tf.Tensor, mode: ForwardMode): { features: tf.Tensor2D; logits: tf.Tensor2D };
}

/** A batch norm's variables: scale and offset (trained), moving mean and variance (state). */
export interface BatchNorm { gamma: tf.Variable; beta: tf.Variable; movingMean: tf.Variable; movingVar: tf.Variable }
