// Original file: proto/gantry/v1/generator.proto


export interface ApplyUpstreamResponse {
  /**
   * True when this call updated G; false when the iteration had already been applied (a retry).
   */
  'applied'?: (boolean);
  /**
   * Global L2 norm of G's parameter gradient for this iteration (as reported by the math core;
   * the cached value on a retry). Dimensionless.
   */
  'gradNorm'?: (number | string);
}

export interface ApplyUpstreamResponse__Output {
  /**
   * True when this call updated G; false when the iteration had already been applied (a retry).
   */
  'applied': (boolean);
  /**
   * Global L2 norm of G's parameter gradient for this iteration (as reported by the math core;
   * the cached value on a retry). Dimensionless.
   */
  'gradNorm': (number);
}
