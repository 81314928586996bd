// Original file: proto/gantry/v1/worker.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from '../../gantry/v1/LoadWeightsResponse.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from '../../gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from '../../gantry/v1/WeightsRequest.ts';

export interface WorkerServiceClient extends grpc.Client {
  /**
   * Replaces the replica's weights, batch-norm state and Adam state. The whole snapshot is
   * received and validated (names, shapes, finiteness) before anything is assigned: a rejected
   * stream changes nothing. Errors: INVALID_ARGUMENT naming the chunk or tensor.
   */
  LoadWeights(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  /**
   * Replaces the replica's weights, batch-norm state and Adam state. The whole snapshot is
   * received and validated (names, shapes, finiteness) before anything is assigned: a rejected
   * stream changes nothing. Errors: INVALID_ARGUMENT naming the chunk or tensor.
   */
  loadWeights(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  
  /**
   * The replica's committed weights, batch-norm state and Adam state, in ~1 MiB chunks. The
   * header's last_applied_iteration is the number of steps they include minus 1 (-1: none).
   */
  StreamWeights(argument: _gantry_v1_WeightsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  StreamWeights(argument: _gantry_v1_WeightsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  /**
   * The replica's committed weights, batch-norm state and Adam state, in ~1 MiB chunks. The
   * header's last_applied_iteration is the number of steps they include minus 1 (-1: none).
   */
  streamWeights(argument: _gantry_v1_WeightsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  streamWeights(argument: _gantry_v1_WeightsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  
}

export interface WorkerServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Replaces the replica's weights, batch-norm state and Adam state. The whole snapshot is
   * received and validated (names, shapes, finiteness) before anything is assigned: a rejected
   * stream changes nothing. Errors: INVALID_ARGUMENT naming the chunk or tensor.
   */
  LoadWeights: grpc.handleClientStreamingCall<_gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse>;
  
  /**
   * The replica's committed weights, batch-norm state and Adam state, in ~1 MiB chunks. The
   * header's last_applied_iteration is the number of steps they include minus 1 (-1: none).
   */
  StreamWeights: grpc.handleServerStreamingCall<_gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk>;
  
}

export interface WorkerServiceDefinition extends grpc.ServiceDefinition {
  LoadWeights: MethodDefinition<_gantry_v1_WeightsChunk, _gantry_v1_LoadWeightsResponse, _gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse__Output>
  StreamWeights: MethodDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsChunk, _gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk__Output>
}
