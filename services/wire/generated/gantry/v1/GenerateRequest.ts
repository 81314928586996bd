// Original file: proto/gantry/v1/generator.proto

import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from '../../gantry/v1/StepId.ts';
import type { DType as _gantry_v1_DType, DType__Output as _gantry_v1_DType__Output } from '../../gantry/v1/DType.ts';

export interface GenerateRequest {
  /**
   * The step the fake batch is for; step == k asks for the G-step's batch G(z').
   */
  'id'?: (_gantry_v1_StepId | null);
  /**
   * Number of images the caller expects; must equal the generator's configured batch size.
   * 0 means "the configured batch size".
   */
  'batchSize'?: (number);
  /**
   * Encoding of the returned tensor; FLOAT32 (the default) is exact.
   */
  'responseDtype'?: (_gantry_v1_DType);
}

export interface GenerateRequest__Output {
  /**
   * The step the fake batch is for; step == k asks for the G-step's batch G(z').
   */
  'id': (_gantry_v1_StepId__Output | null);
  /**
   * Number of images the caller expects; must equal the generator's configured batch size.
   * 0 means "the configured batch size".
   */
  'batchSize': (number);
  /**
   * Encoding of the returned tensor; FLOAT32 (the default) is exact.
   */
  'responseDtype': (_gantry_v1_DType__Output);
}
