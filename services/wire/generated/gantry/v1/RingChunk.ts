// Original file: proto/gantry/v1/collective.proto

import type { CollectiveId as _gantry_v1_CollectiveId, CollectiveId__Output as _gantry_v1_CollectiveId__Output } from '../../gantry/v1/CollectiveId.ts';
import type { RingPhase as _gantry_v1_RingPhase, RingPhase__Output as _gantry_v1_RingPhase__Output } from '../../gantry/v1/RingPhase.ts';
import type { Long } from '@grpc/proto-loader';

/**
 * One slice of one segment of the fused buffer. The buffer of `elements` float32 values is cut into
 * N segments, segment s = [floor(s * elements / N), floor((s + 1) * elements / N)), and each
 * segment into chunks of `chunk_elements` values (the last one shorter).
 */
export interface RingChunk {
  'id'?: (_gantry_v1_CollectiveId | null);
  'phase'?: (_gantry_v1_RingPhase);
  /**
   * Ring step within the phase, 0..N-2.
   */
  'ringStep'?: (number);
  /**
   * Segment index, 0..N-1; at ring step k the receiver r expects segment (r - k - 1) mod N in
   * REDUCE_SCATTER and (r - k) mod N in ALL_GATHER.
   */
  'segment'?: (number);
  /**
   * Chunk index within the segment.
   */
  'chunk'?: (number);
  /**
   * Length of the whole buffer in float32 values; all ranks must agree.
   */
  'elements'?: (number | string | Long);
  /**
   * Chunk length in float32 values used to cut segments; all ranks must agree.
   */
  'chunkElements'?: (number);
  /**
   * The chunk's values, little-endian float32 (4 * its length bytes).
   */
  'data'?: (Buffer | Uint8Array | string);
  /**
   * Ignored by the receiver. A sender may put 0-6 zero bytes here, before `data` on the wire, so
   * that `data` starts at a message offset of 3 mod 4: behind gRPC's 5-byte message prefix it is
   * then 4-byte aligned and read as float32 in place (services/wire/ring-codec.ts).
   */
  'pad'?: (Buffer | Uint8Array | string);
}

/**
 * One slice of one segment of the fused buffer. The buffer of `elements` float32 values is cut into
 * N segments, segment s = [floor(s * elements / N), floor((s + 1) * elements / N)), and each
 * segment into chunks of `chunk_elements` values (the last one shorter).
 */
export interface RingChunk__Output {
  'id': (_gantry_v1_CollectiveId__Output | null);
  'phase': (_gantry_v1_RingPhase__Output);
  /**
   * Ring step within the phase, 0..N-2.
   */
  'ringStep': (number);
  /**
   * Segment index, 0..N-1; at ring step k the receiver r expects segment (r - k - 1) mod N in
   * REDUCE_SCATTER and (r - k) mod N in ALL_GATHER.
   */
  'segment': (number);
  /**
   * Chunk index within the segment.
   */
  'chunk': (number);
  /**
   * Length of the whole buffer in float32 values; all ranks must agree.
   */
  'elements': (number);
  /**
   * Chunk length in float32 values used to cut segments; all ranks must agree.
   */
  'chunkElements': (number);
  /**
   * The chunk's values, little-endian float32 (4 * its length bytes).
   */
  'data': (Buffer);
  /**
   * Ignored by the receiver. A sender may put 0-6 zero bytes here, before `data` on the wire, so
   * that `data` starts at a message offset of 3 mod 4: behind gRPC's 5-byte message prefix it is
   * then 4-byte aligned and read as float32 in place (services/wire/ring-codec.ts).
   */
  'pad': (Buffer);
}
