// Original file: proto/gantry/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Names one collective. Every chunk carries it.
 */
export interface CollectiveId {
  /**
   * The run's id; a group of another run refuses the chunk.
   */
  'runId'?: (string);
  /**
   * Membership generation of the group; older and newer generations are refused.
   */
  'generation'?: (number | string | Long);
  /**
   * The training step the collective belongs to; all ranks must agree on it.
   */
  'step'?: (number | string | Long);
  /**
   * Index of the collective within the group (0, 1, 2, ...: several collectives may run in one
   * step); a chunk of any collective other than the current or the next one is refused.
   */
  'sequence'?: (number | string | Long);
}

/**
 * Names one collective. Every chunk carries it.
 */
export interface CollectiveId__Output {
  /**
   * The run's id; a group of another run refuses the chunk.
   */
  'runId': (string);
  /**
   * Membership generation of the group; older and newer generations are refused.
   */
  'generation': (number);
  /**
   * The training step the collective belongs to; all ranks must agree on it.
   */
  'step': (number);
  /**
   * Index of the collective within the group (0, 1, 2, ...: several collectives may run in one
   * step); a chunk of any collective other than the current or the next one is refused.
   */
  'sequence': (number);
}
