// Original file: proto/gantry/v1/collective.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The first message of a Ring stream.
 */
export interface RingHello {
  'runId'?: (string);
  'generation'?: (number | string | Long);
  /**
   * The sender's rank; it must be the receiver's left neighbour.
   */
  'fromRank'?: (number);
  /**
   * The group's size N; both ends must agree.
   */
  'size'?: (number);
}

/**
 * The first message of a Ring stream.
 */
export interface RingHello__Output {
  'runId': (string);
  'generation': (number);
  /**
   * The sender's rank; it must be the receiver's left neighbour.
   */
  'fromRank': (number);
  /**
   * The group's size N; both ends must agree.
   */
  'size': (number);
}
