// Original file: proto/gantry/v1/discriminator.proto


/**
 * What one D-step computed. Units: losses and outputs are dimensionless.
 */
export interface DStepMetrics {
  /**
   * L_D of this step (the configured loss; for wgan-gp without the penalty term).
   */
  'lossD'?: (number | string);
  /**
   * Mean of D's output on the real batch, in the loss's own output space.
   */
  'dReal'?: (number | string);
  /**
   * Mean of D's output on the fake batch, same space as d_real.
   */
  'dFake'?: (number | string);
  /**
   * Gradient penalty term (wgan-gp only; absent for the other losses).
   */
  'gp'?: (number | string);
  /**
   * True when this call updated D; false when (t, s) had already been applied (a retry).
   */
  'applied'?: (boolean);
  '_gp'?: "gp";
}

/**
 * What one D-step computed. Units: losses and outputs are dimensionless.
 */
export interface DStepMetrics__Output {
  /**
   * L_D of this step (the configured loss; for wgan-gp without the penalty term).
   */
  'lossD': (number);
  /**
   * Mean of D's output on the real batch, in the loss's own output space.
   */
  'dReal': (number);
  /**
   * Mean of D's output on the fake batch, same space as d_real.
   */
  'dFake': (number);
  /**
   * Gradient penalty term (wgan-gp only; absent for the other losses).
   */
  'gp'?: (number);
  /**
   * True when this call updated D; false when (t, s) had already been applied (a retry).
   */
  'applied': (boolean);
  '_gp'?: "gp";
}
