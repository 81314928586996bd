// Original file: proto/gantry/v1/discriminator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DStepMetrics as _gantry_v1_DStepMetrics, DStepMetrics__Output as _gantry_v1_DStepMetrics__Output } from '../../gantry/v1/DStepMetrics.ts';
import type { GeneratorGradRequest as _gantry_v1_GeneratorGradRequest, GeneratorGradRequest__Output as _gantry_v1_GeneratorGradRequest__Output } from '../../gantry/v1/GeneratorGradRequest.ts';
import type { GeneratorGradResponse as _gantry_v1_GeneratorGradResponse, GeneratorGradResponse__Output as _gantry_v1_GeneratorGradResponse__Output } from '../../gantry/v1/GeneratorGradResponse.ts';
import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from '../../gantry/v1/LoadWeightsResponse.ts';
import type { TrainStepRequest as _gantry_v1_TrainStepRequest, TrainStepRequest__Output as _gantry_v1_TrainStepRequest__Output } from '../../gantry/v1/TrainStepRequest.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from '../../gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from '../../gantry/v1/WeightsRequest.ts';

export interface DiscriminatorServiceClient extends grpc.Client {
  /**
   * G-step, discriminator half: L_G and dL_G/dfake for the G-step's batch, WITHOUT updating D.
   * Read-only, so open to any caller of the run. Errors: INVALID_ARGUMENT as for TrainStep;
   * FAILED_PRECONDITION for another run's id or a non-finite loss.
   */
  GeneratorGrad(argument: _gantry_v1_GeneratorGradRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  GeneratorGrad(argument: _gantry_v1_GeneratorGradRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  GeneratorGrad(argument: _gantry_v1_GeneratorGradRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  GeneratorGrad(argument: _gantry_v1_GeneratorGradRequest, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  /**
   * G-step, discriminator half: L_G and dL_G/dfake for the G-step's batch, WITHOUT updating D.
   * Read-only, so open to any caller of the run. Errors: INVALID_ARGUMENT as for TrainStep;
   * FAILED_PRECONDITION for another run's id or a non-finite loss.
   */
  generatorGrad(argument: _gantry_v1_GeneratorGradRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  generatorGrad(argument: _gantry_v1_GeneratorGradRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  generatorGrad(argument: _gantry_v1_GeneratorGradRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  generatorGrad(argument: _gantry_v1_GeneratorGradRequest, callback: grpc.requestCallback<_gantry_v1_GeneratorGradResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing: the whole stream is read and checked (layout, counts, byte totals, names, shapes,
   * finite values) before anything is assigned. Executed only when the snapshot's last applied
   * (iteration, step) is what the scheduler armed. Errors, all changing nothing:
   * FAILED_PRECONDITION (StepNotArmedError) when nothing is armed (before the stream is read) or
   * the snapshot is of another step; INVALID_ARGUMENT naming the chunk or tensor for any layout
   * or content problem (SnapshotMismatchError when it does not fit the model).
   */
  LoadWeights(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  LoadWeights(callback: grpc.requestCallback<_gantry_v1_LoadWeightsResponse__Output>): grpc.ClientWritableStream<_gantry_v1_WeightsChunk>;
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing: the whole stream is read and checked (layout, counts, byte totals, names, shapes,
   * finite values) before anything is assigned. Executed only when the snapshot's last applied
   * (iteration, step) is what the scheduler armed. Errors, all changing nothing:
   * FAILED_PRECONDITION (StepNotArmedError) when nothing is armed (before the stream is read) or
   * the snapshot is of another step; INVALID_ARGUMENT naming the chunk or tensor for any layout
   * or content problem (SnapshotMismatchError when it does not fit the model).
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
  
  /**
   * D-step (t, s): updates D on its real batch for (t, s) and the given fake batch. Idempotent by
   * (t, s): a retry returns applied=false and changes nothing. Executed only when (t, s) is the
   * step the scheduler's current generation armed for this call (a discriminator service runs
   * its own D-steps, so in a run nothing arms it). Errors, all changing nothing:
   * INVALID_ARGUMENT naming the field for a malformed fake batch (shape, a shape of more than
   * 2^28 elements, dtype, byte count, non-finite values, values outside [-1, 1]);
   * FAILED_PRECONDITION for another run's id, for a step nobody armed (StepNotArmedError,
   * naming the expected step), or when the loss or gradient is non-finite (NonFiniteError; the
   * run must stop).
   */
  TrainStep(argument: _gantry_v1_TrainStepRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  TrainStep(argument: _gantry_v1_TrainStepRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  TrainStep(argument: _gantry_v1_TrainStepRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  TrainStep(argument: _gantry_v1_TrainStepRequest, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  /**
   * D-step (t, s): updates D on its real batch for (t, s) and the given fake batch. Idempotent by
   * (t, s): a retry returns applied=false and changes nothing. Executed only when (t, s) is the
   * step the scheduler's current generation armed for this call (a discriminator service runs
   * its own D-steps, so in a run nothing arms it). Errors, all changing nothing:
   * INVALID_ARGUMENT naming the field for a malformed fake batch (shape, a shape of more than
   * 2^28 elements, dtype, byte count, non-finite values, values outside [-1, 1]);
   * FAILED_PRECONDITION for another run's id, for a step nobody armed (StepNotArmedError,
   * naming the expected step), or when the loss or gradient is non-finite (NonFiniteError; the
   * run must stop).
   */
  trainStep(argument: _gantry_v1_TrainStepRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  trainStep(argument: _gantry_v1_TrainStepRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  trainStep(argument: _gantry_v1_TrainStepRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  trainStep(argument: _gantry_v1_TrainStepRequest, callback: grpc.requestCallback<_gantry_v1_DStepMetrics__Output>): grpc.ClientUnaryCall;
  
}

export interface DiscriminatorServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * G-step, discriminator half: L_G and dL_G/dfake for the G-step's batch, WITHOUT updating D.
   * Read-only, so open to any caller of the run. Errors: INVALID_ARGUMENT as for TrainStep;
   * FAILED_PRECONDITION for another run's id or a non-finite loss.
   */
  GeneratorGrad: grpc.handleUnaryCall<_gantry_v1_GeneratorGradRequest__Output, _gantry_v1_GeneratorGradResponse>;
  
  /**
   * Replaces the weights, batch-norm state and Adam state with a snapshot streamed in chunks, all
   * or nothing: the whole stream is read and checked (layout, counts, byte totals, names, shapes,
   * finite values) before anything is assigned. Executed only when the snapshot's last applied
   * (iteration, step) is what the scheduler armed. Errors, all changing nothing:
   * FAILED_PRECONDITION (StepNotArmedError) when nothing is armed (before the stream is read) or
   * the snapshot is of another step; INVALID_ARGUMENT naming the chunk or tensor for any layout
   * or content problem (SnapshotMismatchError when it does not fit the model).
   */
  LoadWeights: grpc.handleClientStreamingCall<_gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse>;
  
  /**
   * The current weights, batch-norm state and Adam state, in ~1 MiB chunks. Read-only.
   */
  StreamWeights: grpc.handleServerStreamingCall<_gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk>;
  
  /**
   * D-step (t, s): updates D on its real batch for (t, s) and the given fake batch. Idempotent by
   * (t, s): a retry returns applied=false and changes nothing. Executed only when (t, s) is the
   * step the scheduler's current generation armed for this call (a discriminator service runs
   * its own D-steps, so in a run nothing arms it). Errors, all changing nothing:
   * INVALID_ARGUMENT naming the field for a malformed fake batch (shape, a shape of more than
   * 2^28 elements, dtype, byte count, non-finite values, values outside [-1, 1]);
   * FAILED_PRECONDITION for another run's id, for a step nobody armed (StepNotArmedError,
   * naming the expected step), or when the loss or gradient is non-finite (NonFiniteError; the
   * run must stop).
   */
  TrainStep: grpc.handleUnaryCall<_gantry_v1_TrainStepRequest__Output, _gantry_v1_DStepMetrics>;
  
}

export interface DiscriminatorServiceDefinition extends grpc.ServiceDefinition {
  GeneratorGrad: MethodDefinition<_gantry_v1_GeneratorGradRequest, _gantry_v1_GeneratorGradResponse, _gantry_v1_GeneratorGradRequest__Output, _gantry_v1_GeneratorGradResponse__Output>
  LoadWeights: MethodDefinition<_gantry_v1_WeightsChunk, _gantry_v1_LoadWeightsResponse, _gantry_v1_WeightsChunk__Output, _gantry_v1_LoadWeightsResponse__Output>
  StreamWeights: MethodDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsChunk, _gantry_v1_WeightsRequest__Output, _gantry_v1_WeightsChunk__Output>
  TrainStep: MethodDefinition<_gantry_v1_TrainStepRequest, _gantry_v1_DStepMetrics, _gantry_v1_TrainStepRequest__Output, _gantry_v1_DStepMetrics__Output>
}
