// Original file: proto/gantry/v1/discriminator.proto

import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from '../../gantry/v1/StepId.ts';
import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from '../../gantry/v1/Tensor.ts';
import type { DType as _gantry_v1_DType, DType__Output as _gantry_v1_DType__Output } from '../../gantry/v1/DType.ts';

export interface GeneratorGradRequest {
  /**
   * The G-step's id: (run, t, k).
   */
  'id'?: (_gantry_v1_StepId | null);
  /**
   * G(z') for iteration t, (B, 28, 28, 1) in [-1, 1] (checked).
   */
  'fake'?: (_gantry_v1_Tensor | null);
  /**
   * Encoding of the returned gradient; FLOAT32 (the default) is exact.
   */
  'responseDtype'?: (_gantry_v1_DType);
}

export interface GeneratorGradRequest__Output {
  /**
   * The G-step's id: (run, t, k).
   */
  'id': (_gantry_v1_StepId__Output | null);
  /**
   * G(z') for iteration t, (B, 28, 28, 1) in [-1, 1] (checked).
   */
  'fake': (_gantry_v1_Tensor__Output | null);
  /**
   * Encoding of the returned gradient; FLOAT32 (the default) is exact.
   */
  'responseDtype': (_gantry_v1_DType__Output);
}
