// Original file: proto/gantry/v1/generator.proto

import type { Tensor as _gantry_v1_Tensor, Tensor__Output as _gantry_v1_Tensor__Output } from '../../gantry/v1/Tensor.ts';

export interface GenerateResponse {
  /**
   * G(z), (B, 28, 28, 1), tanh outputs in [-1, 1] (GeneratorClient refuses an answer outside).
   */
  'images'?: (_gantry_v1_Tensor | null);
}

export interface GenerateResponse__Output {
  /**
   * G(z), (B, 28, 28, 1), tanh outputs in [-1, 1] (GeneratorClient refuses an answer outside).
   */
  'images': (_gantry_v1_Tensor__Output | null);
}
