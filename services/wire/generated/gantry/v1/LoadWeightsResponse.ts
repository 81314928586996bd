// Original file: proto/gantry/v1/weights.proto

import type { Long } from '@grpc/proto-loader';

export interface LoadWeightsResponse {
  /**
   * What was loaded: tensors of both groups and their float32 bytes.
   */
  'tensorCount'?: (number);
  'totalBytes'?: (number | string | Long);
}

export interface LoadWeightsResponse__Output {
  /**
   * What was loaded: tensors of both groups and their float32 bytes.
   */
  'tensorCount': (number);
  'totalBytes': (number);
}
