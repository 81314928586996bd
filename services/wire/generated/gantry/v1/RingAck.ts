// Original file: proto/gantry/v1/collective.proto

import type { RingAbort as _gantry_v1_RingAbort, RingAbort__Output as _gantry_v1_RingAbort__Output } from '../../gantry/v1/RingAbort.ts';

export interface RingAck {
  /**
   * Answer to the hello: the receiving group is attached and the ring edge is open.
   */
  'helloAccepted'?: (boolean);
  /**
   * Number of chunks consumed (reduced or copied) since the previous ack: returned credits.
   */
  'consumed'?: (number);
  /**
   * Set once, just before the receiver ends the stream because its group failed.
   */
  'abort'?: (_gantry_v1_RingAbort | null);
}

export interface RingAck__Output {
  /**
   * Answer to the hello: the receiving group is attached and the ring edge is open.
   */
  'helloAccepted': (boolean);
  /**
   * Number of chunks consumed (reduced or copied) since the previous ack: returned credits.
   */
  'consumed': (number);
  /**
   * Set once, just before the receiver ends the stream because its group failed.
   */
  'abort': (_gantry_v1_RingAbort__Output | null);
}
