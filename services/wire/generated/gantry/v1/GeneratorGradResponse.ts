// Original file: proto/gantry/v1/discriminator.proto

import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from '../../gantry/v1/Tensor.ts';

export interface GeneratorGradResponse {
  /**
   * L_G for the batch (dimensionless).
   */
  'lossG'?: (number | string);
  /**
   * Mean of D's output on the batch, in the loss's own output space.
   */
  'dFake'?: (number | string);
  /**
   * dL_G/dfake, (B, 28, 28, 1), the upstream gradient for ApplyUpstreamGradient.
   */
  'grad'?: (_gantry_v1_Tensor | null);
}

export interface GeneratorGradResponse__Output {
  /**
   * L_G for the batch (dimensionless).
   */
  'lossG': (number);
  /**
   * Mean of D's output on the batch, in the loss's own output space.
   */
  'dFake': (number);
  /**
   * dL_G/dfake, (B, 28, 28, 1), the upstream gradient for ApplyUpstreamGradient.
   */
  'grad': (_gantry_v1_Tensor__Output | null);
}
