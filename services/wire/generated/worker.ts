import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { LoadWeightsResponse as _gantry_v1_LoadWeightsResponse, LoadWeightsResponse__Output as _gantry_v1_LoadWeightsResponse__Output } from './gantry/v1/LoadWeightsResponse.ts';
import type { SnapshotHeader as _gantry_v1_SnapshotHeader, SnapshotHeader__Output as _gantry_v1_SnapshotHeader__Output } from './gantry/v1/SnapshotHeader.ts';
import type { WeightsChunk as _gantry_v1_WeightsChunk, WeightsChunk__Output as _gantry_v1_WeightsChunk__Output } from './gantry/v1/WeightsChunk.ts';
import type { WeightsRequest as _gantry_v1_WeightsRequest, WeightsRequest__Output as _gantry_v1_WeightsRequest__Output } from './gantry/v1/WeightsRequest.ts';
import type { WorkerServiceClient as _gantry_v1_WorkerServiceClient, WorkerServiceDefinition as _gantry_v1_WorkerServiceDefinition } from './gantry/v1/WorkerService.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  gantry: {
    v1: {
      LoadWeightsResponse: MessageTypeDefinition<_gantry_v1_LoadWeightsResponse, _gantry_v1_LoadWeightsResponse__Output>
      SnapshotHeader: MessageTypeDefinition<_gantry_v1_SnapshotHeader, _gantry_v1_SnapshotHeader__Output>
      TensorGroup: EnumTypeDefinition
      WeightsChunk: MessageTypeDefinition<_gantry_v1_WeightsChunk, _gantry_v1_WeightsChunk__Output>
      WeightsRequest: MessageTypeDefinition<_gantry_v1_WeightsRequest, _gantry_v1_WeightsRequest__Output>
      WorkerService: SubtypeConstructor<typeof grpc.Client, _gantry_v1_WorkerServiceClient> & { service: _gantry_v1_WorkerServiceDefinition }
    }
  }
}

