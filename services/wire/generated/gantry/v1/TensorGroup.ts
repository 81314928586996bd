// Original file: proto/gantry/v1/weights.proto

/**
 * Which list of the snapshot a tensor belongs to.
 */
export const TensorGroup = {
  /**
   * ModelSnapshot.tensors: trainable params and batch-norm moving statistics, e.g. "dense1/kernel".
   */
  MODEL: 'MODEL',
  /**
   * ModelSnapshot.optimizer.slots: Adam moments, "<param>/m" and "<param>/v".
   */
  OPTIMIZER_SLOT: 'OPTIMIZER_SLOT',
} as const;

/**
 * Which list of the snapshot a tensor belongs to.
 */
export type TensorGroup =
  /**
   * ModelSnapshot.tensors: trainable params and batch-norm moving statistics, e.g. "dense1/kernel".
   */
  | 'MODEL'
  | 0
  /**
   * ModelSnapshot.optimizer.slots: Adam moments, "<param>/m" and "<param>/v".
   */
  | 'OPTIMIZER_SLOT'
  | 1

/**
 * Which list of the snapshot a tensor belongs to.
 */
export type TensorGroup__Output = typeof TensorGroup[keyof typeof TensorGroup]
