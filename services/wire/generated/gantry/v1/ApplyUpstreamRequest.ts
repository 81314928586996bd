// Original file: proto/gantry/v1/generator.proto

import type { StepId as _gantry_v1_StepId, StepId__Output as _gantry_v1_StepId__Output } from '../../gantry/v1/StepId.ts';
import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from '../../gantry/v1/Tensor.ts';

export interface ApplyUpstreamRequest {
  /**
   * The G-step's id: (run, t, k).
   */
  'id'?: (_gantry_v1_StepId | null);
  /**
   * dL_G/dG(z') from the discriminator, (B, 28, 28, 1), same B as Generate returned; finite.
   */
  'grad'?: (_gantry_v1_Tensor | null);
}

export interface ApplyUpstreamRequest__Output {
  /**
   * The G-step's id: (run, t, k).
   */
  'id': (_gantry_v1_StepId__Output | null);
  /**
   * dL_G/dG(z') from the discriminator, (B, 28, 28, 1), same B as Generate returned; finite.
   */
  'grad': (_gantry_v1_Tensor__Output | null);
}
