import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ApplyUpstreamRequest as _gantry_v1_ApplyUpstreamRequest, ApplyUpstreamRequest__Output as _gantry_v1_ApplyUpstreamRequest__Output } from './gantry/v1/ApplyUpstreamRequest.ts';
import type { ApplyUpstreamResponse as _gantry_v1_ApplyUpstreamResponse, ApplyUpstreamResponse__Output as _gantry_v1_ApplyUpstreamResponse__Output } from './gantry/v1/ApplyUpstreamResponse.ts';
import type { GenerateRequest as _gantry_v1_GenerateRequest, GenerateRequest__Output as _gantry_v1_GenerateRequest__Output } from './gantry/v1/GenerateRequest.ts';
import type { GenerateResponse as _gantry_v1_GenerateResponse, GenerateResponse__Output as _gantry_v1_GenerateResponse__Output } from './gantry/v1/GenerateResponse.ts';
import type { GeneratorServiceClient as _gantry_v1_GeneratorServiceClient, GeneratorServiceDefinition as _gantry_v1_GeneratorServiceDefinition } from './gantry/v1/GeneratorService.ts';
import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from './gantry/v1/LoadWeightsResponse.ts';
import type { SnapshotHeader as _gantry_v1_SnapshotHeader, SnapshotHeader__Output as _gantry_v1_SnapshotHeader__Output } from './gantry/v1/SnapshotHeader.ts';
import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from './gantry/v1/StepId.ts';
import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from './gantry/v1/Tensor.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from './gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from './gantry/v1/WeightsRequest.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  gantry: {
    v1: {
      ApplyUpstreamRequest: MessageTypeDefinition<_gantry_v1_ApplyUpstreamRequest, _gantry_v1_ApplyUpstreamRequest__Output>
      ApplyUpstreamResponse: MessageTypeDefinition<_gantry_v1_ApplyUpstreamResponse, _gantry_v1_ApplyUpstreamResponse__Output>
      DType: EnumTypeDefinition
      GenerateRequest: MessageTypeDefinition<_gantry_v1_GenerateRequest, _gantry_v1_GenerateRequest__Output>
      GenerateResponse: MessageTypeDefinition<_gantry_v1_GenerateResponse, _gantry_v1_GenerateResponse__Output>
      GeneratorService: SubtypeConstructor<typeof grpc.Client, _gantry_v1_GeneratorServiceClient> & { service: _gantry_v1_GeneratorServiceDefinition }
      LoadWeightsResponse: MessageTypeDefinition<_gantry_v1_LoadWeightsResponse, _gantry_v1_LoadWeightsResponse__Output>
      SnapshotHeader: MessageTypeDefinition<_gantry_v1_SnapshotHeader, _gantry_v1_SnapshotHeader__Output>
      StepId: MessageTypeDefinition<_gantry_v1_StepId, _gantry_v1_StepId__Output>
      Tensor: MessageTypeDefinition<_gantry_v1_Tensor, _gantry_v1_Tensor__Output>
      TensorGroup: EnumTypeDefinition
      WeightsChunk: MessageTypeDefinition<_gantry_v1_WeightsChunk, _gantry_v1_WeightsChunk__Output>
      WeightsRequest: MessageTypeDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsRequest__Output>
    }
  }
}

