import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { DStepMetrics as _gantry_v1_DStepMetrics, DStepMetrics__Output as _gantry_v1_DStepMetrics__Output } from './gantry/v1/DStepMetrics.ts';
import type { DiscriminatorServiceClient as _gantry_v1_DiscriminatorServiceClient, DiscriminatorServiceDefinition as _gantry_v1_DiscriminatorServiceDefinition } from './gantry/v1/DiscriminatorService.ts';
import type { GeneratorGradRequest as _gantry_v1_GeneratorGradRequest, GeneratorGradRequest__Output as _gantry_v1_GeneratorGradRequest__Output } from './gantry/v1/GeneratorGradRequest.ts';
import type { GeneratorGradResponse as _gantry_v1_GeneratorGradResponse, GeneratorGradResponse__Output as _gantry_v1_GeneratorGradResponse__Output } from './gantry/v1/GeneratorGradResponse.ts';
import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from './gantry/v1/LoadWeightsResponse.ts';
import type { SnapshotHeader as _gantry_v1_SnapshotHeader, SnapshotHeader__Output as _gantry_v1_SnapshotHeader__Output } from './gantry/v1/SnapshotHeader.ts';
import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from './gantry/v1/StepId.ts';
import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from './gantry/v1/Tensor.ts';
import type { TrainStepRequest as _gantry_v1_TrainStepRequest, TrainStepRequest__Output as _gantry_v1_TrainStepRequest__Output } from './gantry/v1/TrainStepRequest.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from './gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from './gantry/v1/WeightsRequest.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  gantry: {
    v1: {
      DStepMetrics: MessageTypeDefinition<_gantry_v1_DStepMetrics, _gantry_v1_DStepMetrics__Output>
      DType: EnumTypeDefinition
      DiscriminatorService: SubtypeConstructor<typeof grpc.Client, _gantry_v1_DiscriminatorServiceClient> & { service: _gantry_v1_DiscriminatorServiceDefinition }
      GeneratorGradRequest: MessageTypeDefinition<_gantry_v1_GeneratorGradRequest, _gantry_v1_GeneratorGradRequest__Output>
      GeneratorGradResponse: MessageTypeDefinition<_gantry_v1_GeneratorGradResponse, _gantry_v1_GeneratorGradResponse__Output>
      LoadWeightsResponse: MessageTypeDefinition<_gantry_v1_LoadWeightsResponse, _gantry_v1_LoadWeightsResponse__Output>
      SnapshotHeader: MessageTypeDefinition<_gantry_v1_SnapshotHeader, _gantry_v1_SnapshotHeader__Output>
      StepId: MessageTypeDefinition<_gantry_v1_StepId, _gantry_v1_StepId__Output>
      Tensor: MessageTypeDefinition<_gantry_v1_Tensor, _gantry_v1_Tensor__Output>
      TensorGroup: EnumTypeDefinition
      TrainStepRequest: MessageTypeDefinition<_gantry_v1_TrainStepRequest, _gantry_v1_TrainStepRequest__Output>
      WeightsChunk: MessageTypeDefinition<_gantry_v1_WeightsChunk, _gantry_v1_WeightsChunk__Output>
      WeightsRequest: MessageTypeDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsRequest__Output>
    }
  }
}

