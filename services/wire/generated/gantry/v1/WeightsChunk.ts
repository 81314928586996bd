// Original file: proto/gantry/v1/weights.proto

import type { SnapshotHeader as _gantry_v1_SnapshotHeader, SnapshotHeader__Output as _gantry_v1_SnapshotHeader__Output } from '../../gantry/v1/SnapshotHeader.ts';
import type { TensorGroup as _gantry_v1_TensorGroup, TensorGroup__Output as _gantry_v1_TensorGroup__Output } from '../../gantry/v1/TensorGroup.ts';
import type { Long } from '@grpc/proto-loader';

export interface WeightsChunk {
  /**
   * First chunk only.
   */
  'header'?: (_gantry_v1_SnapshotHeader | null);
  /**
   * The tensor this slice belongs to, e.g. "dense1/kernel" or "dense1/kernel/m".
   */
  'tensorName'?: (string);
  'group'?: (_gantry_v1_TensorGroup);
  /**
   * The whole tensor's dimensions (not the slice's); [] is a scalar. product(shape) is at most
   * 2^28 (INVALID_ARGUMENT naming chunk[i].shape and the bound otherwise).
   */
  'shape'?: (number | string | Long)[];
  /**
   * Offset in bytes of `data` within the tensor's product(shape) * 4 bytes; a multiple of 4.
   */
  'byteOffset'?: (number | string | Long);
  /**
   * A slice of the tensor's little-endian float32 values, at most about 1 MiB.
   */
  'data'?: (Buffer | Uint8Array | string);
}

export interface WeightsChunk__Output {
  /**
   * First chunk only.
   */
  'header': (_gantry_v1_SnapshotHeader__Output | null);
  /**
   * The tensor this slice belongs to, e.g. "dense1/kernel" or "dense1/kernel/m".
   */
  'tensorName': (string);
  'group': (_gantry_v1_TensorGroup__Output);
  /**
   * The whole tensor's dimensions (not the slice's); [] is a scalar. product(shape) is at most
   * 2^28 (INVALID_ARGUMENT naming chunk[i].shape and the bound otherwise).
   */
  'shape': (number)[];
  /**
   * Offset in bytes of `data` within the tensor's product(shape) * 4 bytes; a multiple of 4.
   */
  'byteOffset': (number);
  /**
   * A slice of the tensor's little-endian float32 values, at most about 1 MiB.
   */
  'data': (Buffer);
}
