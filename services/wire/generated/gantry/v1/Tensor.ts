// Original file: proto/gantry/v1/tensor.proto

import type { DType as _gantry_v1_DType, DType__Output as _gantry_v1_DType__Output } from '../../gantry/v1/DType.ts';
import type { Long } from '@grpc/proto-loader';

/**
 * A dense row-major tensor.
 */
export interface Tensor {
  /**
   * Encoding of `data`; FLOAT32 when unset.
   */
  'dtype'?: (_gantry_v1_DType);
  /**
   * Dimensions, batch first, e.g. [64, 28, 28, 1] for a batch of 64 images (B, H, W, C).
   * [] is a scalar. Every entry is >= 0, and product(shape) is at most 2^28: a receiver refuses a
   * larger (or overflowing) product with INVALID_ARGUMENT naming the field and the bound, before
   * allocating anything.
   */
  'shape'?: (number | string | Long)[];
  /**
   * product(shape) elements in `dtype`'s encoding, little-endian, densely packed:
   * product(shape) * 4 bytes for FLOAT32, * 2 for FLOAT16 and BFLOAT16.
   */
  'data'?: (Buffer | Uint8Array | string);
}

/**
 * A dense row-major tensor.
 */
export interface Tensor__Output {
  /**
   * Encoding of `data`; FLOAT32 when unset.
   */
  'dtype': (_gantry_v1_DType__Output);
  /**
   * Dimensions, batch first, e.g. [64, 28, 28, 1] for a batch of 64 images (B, H, W, C).
   * [] is a scalar. Every entry is >= 0, and product(shape) is at most 2^28: a receiver refuses a
   * larger (or overflowing) product with INVALID_ARGUMENT naming the field and the bound, before
   * allocating anything.
   */
  'shape': (number)[];
  /**
   * product(shape) elements in `dtype`'s encoding, little-endian, densely packed:
   * product(shape) * 4 bytes for FLOAT32, * 2 for FLOAT16 and BFLOAT16.
   */
  'data': (Buffer);
}
