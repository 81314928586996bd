import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { CollectiveId as _gantry_v1_CollectiveId, CollectiveId__Output as _gantry_v1_CollectiveId__Output } from './gantry/v1/CollectiveId.ts';
import type { CollectiveServiceClient as _gantry_v1_CollectiveServiceClient, CollectiveServiceDefinition as _gantry_v1_CollectiveServiceDefinition } from './gantry/v1/CollectiveService.ts';
import type { RingAbort as _gantry_v1_RingAbort, RingAbort__Output as _gantry_v1_RingAbort__Output } from './gantry/v1/RingAbort.ts';
import type { RingAck as _gantry_v1_RingAck, RingAck__Output as _gantry_v1_RingAck__Output } from './gantry/v1/RingAck.ts';
import type { RingChunk as _gantry_v1_RingChunk, RingChunk__Output as _gantry_v1_RingChunk__Output } from './gantry/v1/RingChunk.ts';
import type { RingFrame as _gantry_v1_RingFrame, RingFrame__Output as _gantry_v1_RingFrame__Output } from './gantry/v1/RingFrame.ts';
import type { RingHello as _gantry_v1_RingHello, RingHello__Output as _gantry_v1_RingHello__Output } from './gantry/v1/RingHello.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  gantry: {
    v1: {
      CollectiveId: MessageTypeDefinition<_gantry_v1_CollectiveId, _gantry_v1_CollectiveId__Output>
      CollectiveService: SubtypeConstructor<typeof grpc.Client, _gantry_v1_CollectiveServiceClient> & { service: _gantry_v1_CollectiveServiceDefinition }
      RingAbort: MessageTypeDefinition<_gantry_v1_RingAbort, _gantry_v1_RingAbort__Output>
      RingAck: MessageTypeDefinition<_gantry_v1_RingAck, _gantry_v1_RingAck__Output>
      RingChunk: MessageTypeDefinition<_gantry_v1_RingChunk, _gantry_v1_RingChunk__Output>
      RingFrame: MessageTypeDefinition<_gantry_v1_RingFrame, _gantry_v1_RingFrame__Output>
      RingHello: MessageTypeDefinition<_gantry_v1_RingHello, _gantry_v1_RingHello__Output>
      RingPhase: EnumTypeDefinition
    }
  }
}

