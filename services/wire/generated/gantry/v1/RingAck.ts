// Original file: proto/gantry/v1/collective.proto


export interface RingAck {
  /**
   * Answer to the hello: the receiving group is attached and the ring edge is open.
   */
  'helloAccepted'?: (boolean);
  /**
   * Number of chunks consumed (reduced or copied) since the previous ack: returned credits.
   */
  'consumed'?: (number);
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
}
