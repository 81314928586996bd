// Original file: proto/gantry/v1/weights.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Everything of a snapshot except the tensor bytes. Sent once, in the first chunk.
 */
export interface SnapshotHeader {
  /**
   * "generator", "discriminator" or "classifier".
   */
  'role'?: (string);
  /**
   * ModelSnapshot.arch as JSON (what buildModelFromArch takes).
   */
  'archJson'?: (string);
  /**
   * Optimizer kind; "adam" is the only one.
   */
  'optimizerKind'?: (string);
  /**
   * Number of optimizer updates applied so far (Adam's bias correction uses it).
   */
  'optimizerStep'?: (number | string | Long);
  /**
   * Optimizer hyper-parameters (lr, beta1, beta2, epsilon, decayRate, decaySteps).
   */
  'optimizerHyper'?: ({[key: string]: number | string});
  /**
   * Last iteration whose update these weights include; -1 before any. LoadWeights is executed
   * only when (last_applied_iteration, last_applied_step) is the step the scheduler armed.
   */
  'lastAppliedIteration'?: (number | string | Long);
  /**
   * Last step within that iteration (discriminator D-steps); -1 before any or when unused.
   */
  'lastAppliedStep'?: (number | string | Long);
  /**
   * Number of MODEL tensors that follow.
   */
  'modelTensorCount'?: (number);
  /**
   * Number of OPTIMIZER_SLOT tensors that follow them.
   */
  'slotCount'?: (number);
  /**
   * Sum of product(shape) * 4 over all tensors: the float32 bytes that follow (below 2^53). The
   * receiver allocates a tensor only once all its bytes have arrived.
   */
  'totalBytes'?: (number | string | Long);
}

/**
 * Everything of a snapshot except the tensor bytes. Sent once, in the first chunk.
 */
export interface SnapshotHeader__Output {
  /**
   * "generator", "discriminator" or "classifier".
   */
  'role': (string);
  /**
   * ModelSnapshot.arch as JSON (what buildModelFromArch takes).
   */
  'archJson': (string);
  /**
   * Optimizer kind; "adam" is the only one.
   */
  'optimizerKind': (string);
  /**
   * Number of optimizer updates applied so far (Adam's bias correction uses it).
   */
  'optimizerStep': (number);
  /**
   * Optimizer hyper-parameters (lr, beta1, beta2, epsilon, decayRate, decaySteps).
   */
  'optimizerHyper': ({[key: string]: number});
  /**
   * Last iteration whose update these weights include; -1 before any. LoadWeights is executed
   * only when (last_applied_iteration, last_applied_step) is the step the scheduler armed.
   */
  'lastAppliedIteration': (number);
  /**
   * Last step within that iteration (discriminator D-steps); -1 before any or when unused.
   */
  'lastAppliedStep': (number);
  /**
   * Number of MODEL tensors that follow.
   */
  'modelTensorCount': (number);
  /**
   * Number of OPTIMIZER_SLOT tensors that follow them.
   */
  'slotCount': (number);
  /**
   * Sum of product(shape) * 4 over all tensors: the float32 bytes that follow (below 2^53). The
   * receiver allocates a tensor only once all its bytes have arrived.
   */
  'totalBytes': (number);
}
