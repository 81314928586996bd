// Original file: proto/gantry/v1/collective.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { RingAck as _gantry_v1_RingAck, RingAck__Output as _gantry_v1_RingAck__Output } from '../../gantry/v1/RingAck.ts';
import type { RingFrame as _gantry_v1_RingFrame, RingFrame__Output as _gantry_v1_RingFrame__Output } from '../../gantry/v1/RingFrame.ts';

export interface CollectiveServiceClient extends grpc.Client {
  /**
   * Opened by each rank to its right neighbour; chunks flow that way, acks flow back.
   */
  Ring(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_gantry_v1_RingFrame, _gantry_v1_RingAck__Output>;
  Ring(options?: grpc.CallOptions): grpc.ClientDuplexStream<_gantry_v1_RingFrame, _gantry_v1_RingAck__Output>;
  /**
   * Opened by each rank to its right neighbour; chunks flow that way, acks flow back.
   */
  ring(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_gantry_v1_RingFrame, _gantry_v1_RingAck__Output>;
  ring(options?: grpc.CallOptions): grpc.ClientDuplexStream<_gantry_v1_RingFrame, _gantry_v1_RingAck__Output>;
  
}

export interface CollectiveServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Opened by each rank to its right neighbour; chunks flow that way, acks flow back.
   */
  Ring: grpc.handleBidiStreamingCall<_gantry_v1_RingFrame__Output, _gantry_v1_RingAck>;
  
}

export interface CollectiveServiceDefinition extends grpc.ServiceDefinition {
  Ring: MethodDefinition<_gantry_v1_RingFrame, _gantry_v1_RingAck, _gantry_v1_RingFrame__Output, _gantry_v1_RingAck__Output>
}
