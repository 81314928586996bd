// Original file: proto/gantry/v1/generator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ApplyUpstreamRequest as _gantry_v1_ApplyUpstreamRequest, ApplyUpstreamRequest__Output as _gantry_v1_ApplyUpstreamRequest__Output } from '../../gantry/v1/ApplyUpstreamRequest.ts';
import type { ApplyUpstreamResponse as _gantry_v1_ApplyUpstreamResponse, ApplyUpstreamResponse__Output as _gantry_v1_ApplyUpstreamResponse__Output } from '../../gantry/v1/ApplyUpstreamResponse.ts';
import type { GenerateRequest as _gantry_v1_GenerateRequest, GenerateRequest__Output as _gantry_v1_GenerateRequest__Output } from '../../gantry/v1/GenerateRequest.ts';
import type { GenerateResponse as _gantry_v1_GenerateResponse, GenerateResponse__Output as _gantry_v1_GenerateResponse__Output } from '../../gantry/v1/GenerateResponse.ts';
import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from '../../gantry/v1/LoadWeightsResponse.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from '../../gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from '../../gantry/v1/WeightsRequest.ts';

export interface GeneratorServiceClient extends grpc.Client {
  /**
   * The G-step's backward half: back-propagates dL_G/dG(z') through G and updates G. Idempotent
   * per iteration: a retry for an applied iteration returns applied=false and changes nothing.
   * Executed only when (t, k) is the step the scheduler's current generation armed for this call
   * (a generator service runs its own G-steps, so in a run nothing arms it). Errors, all
   * changing nothing: INVALID_ARGUMENT naming the field for a malformed gradient (shape, a shape
   * of more than 2^28 elements, dtype, byte count, non-finite values); FAILED_PRECONDITION for
   * another run's id, for a step nobody armed (StepNotArmedError, naming the expected step), or
   * when the resulting update is non-finite (NonFiniteError; the run must stop).
   */
  ApplyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  ApplyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  ApplyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  ApplyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The G-step's backward half: back-propagates dL_G/dG(z') through G and updates G. Idempotent
   * per iteration: a retry for an applied iteration returns applied=false and changes nothing.
   * Executed only when (t, k) is the step the scheduler's current generation armed for this call
   * (a generator service runs its own G-steps, so in a run nothing arms it). Errors, all
   * changing nothing: INVALID_ARGUMENT naming the field for a malformed gradient (shape, a shape
   * of more than 2^28 elements, dtype, byte count, non-finite values); FAILED_PRECONDITION for
   * another run's id, for a step nobody armed (StepNotArmedError, naming the expected step), or
   * when the resulting update is non-finite (NonFiniteError; the run must stop).
   */
  applyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  applyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  applyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  applyUpstreamGradient(argument: _gantry_v1_ApplyUpstreamRequest, callback: grpc.requestCallback<_gantry_v1_ApplyUpstreamResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * G(z) for step (t, s): z is derived from (run seed, t, s), so the answer is a pure function of
   * the weights and the id. Does not change any state (open to any caller of the run). Errors:
   * INVALID_ARGUMENT for a bad batch_size or id.step, FAILED_PRECONDITION for another run's id.
   */
  Generate(argument: _gantry_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _gantry_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _gantry_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _gantry_v1_GenerateRequest, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  /**
   * G(z) for step (t, s): z is derived from (run seed, t, s), so the answer is a pure function of
   * the weights and the id. Does not change any state (open to any caller of the run). Errors:
   * INVALID_ARGUMENT for a bad batch_size or id.step, FAILED_PRECONDITION for another run's id.
   */
  generate(argument: _gantry_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _gantry_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _gantry_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _gantry_v1_GenerateRequest, callback: grpc.requestCallback<_gantry_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing; executed only for the armed step. Same checks and errors as
   * DiscriminatorService.LoadWeights.
   */
  LoadWeights(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing; executed only for the armed step. Same checks and errors as
   * DiscriminatorService.LoadWeights.
   */
  loadWeights(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  loadWeights(callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  
  /**
   * The current weights, batch-norm state and Adam state, in ~1 MiB chunks. Read-only.
   */
  StreamWeights(argument: _gantry_v1_WeightsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  StreamWeights(argument: _gantry_v1_WeightsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  /**
   * The current weights, batch-norm state and Adam state, in ~1 MiB chunks. Read-only.
   */
  streamWeights(argument: _gantry_v1_WeightsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  streamWeights(argument: _gantry_v1_WeightsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_gantry_v1_WeightsChunk__Output>;
  
}

export interface GeneratorServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The G-step's backward half: back-propagates dL_G/dG(z') through G and updates G. Idempotent
   * per iteration: a retry for an applied iteration returns applied=false and changes nothing.
   * Executed only when (t, k) is the step the scheduler's current generation armed for this call
   * (a generator service runs its own G-steps, so in a run nothing arms it). Errors, all
   * changing nothing: INVALID_ARGUMENT naming the field for a malformed gradient (shape, a shape
   * of more than 2^28 elements, dtype, byte count, non-finite values); FAILED_PRECONDITION for
   * another run's id, for a step nobody armed (StepNotArmedError, naming the expected step), or
   * when the resulting update is non-finite (NonFiniteError; the run must stop).
   */
  ApplyUpstreamGradient: grpc.handleUnaryCall<_gantry_v1_ApplyUpstreamRequest__Output, _gantry_v1_ApplyUpstreamResponse>;
  
  /**
   * G(z) for step (t, s): z is derived from (run seed, t, s), so the answer is a pure function of
   * the weights and the id. Does not change any state (open to any caller of the run). Errors:
   * INVALID_ARGUMENT for a bad batch_size or id.step, FAILED_PRECONDITION for another run's id.
   */
  Generate: grpc.handleUnaryCall<_gantry_v1_GenerateRequest__Output, _gantry_v1_GenerateResponse>;
  
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing; executed only for the armed step. Same checks and errors as
   * DiscriminatorService.LoadWeights.
   */
  LoadWeights: grpc.handleClientStreamingCall<_gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse>;
  
  /**
   * The current weights, batch-norm state and Adam state, in ~1 MiB chunks. Read-only.
   */
  StreamWeights: grpc.handleServerStreamingCall<_gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk>;
  
}

export interface GeneratorServiceDefinition extends grpc.ServiceDefinition {
  ApplyUpstreamGradient: MethodDefinition<_gantry_v1_ApplyUpstreamRequest, _gantry_v1_ApplyUpstreamResponse, _gantry_v1_ApplyUpstreamRequest__Output, _gantry_v1_ApplyUpstreamResponse__Output>
  Generate: MethodDefinition<_gantry_v1_GenerateRequest, _gantry_v1_GenerateResponse, _gantry_v1_GenerateRequest__Output, _gantry_v1_GenerateResponse__Output>
  LoadWeights: MethodDefinition<_gantry_v1_WeightsChunk, _gantry_v1_LoadWeightsResponse, _gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse__Output>
  StreamWeights: MethodDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsChunk, _gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk__Output>
}
