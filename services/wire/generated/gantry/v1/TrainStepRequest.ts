// Original file: proto/gantry/v1/discriminator.proto

import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from '../../gantry/v1/StepId.ts';
import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from '../../gantry/v1/Tensor.ts';

export interface TrainStepRequest {
  /**
   * The D-step's id: (run, t, s) with s in 0..k-1.
   */
  'id'?: (_gantry_v1_StepId | null);
  /**
   * G(z) for (t, s) from GeneratorService.Generate, (B, 28, 28, 1) in [-1, 1] (checked).
   */
  'fake'?: (_gantry_v1_Tensor | null);
}

export interface TrainStepRequest__Output {
  /**
   * The D-step's id: (run, t, s) with s in 0..k-1.
   */
  'id': (_gantry_v1_StepId__Output | null);
  /**
   * G(z) for (t, s) from GeneratorService.Generate, (B, 28, 28, 1) in [-1, 1] (checked).
   */
  'fake': (_gantry_v1_Tensor__Output | null);
}
