// Errors raised by sample-quality evaluation. Messages name the input, what was expected and what was found.

/** An input of the wrong shape or with non-finite values (features, probabilities, images). */
export class EvalInputError extends Error {
  override readonly name = 'EvalInputError';
}

/** No trained classifier could be found or loaded; the message tells the user how to make one. */
export class NoClassifierError extends Error {
  override readonly name = 'NoClassifierError';
}

/** A checkpoint that lacks the model asked for (e.g. a classifier checkpoint given as the GAN). */
export class WrongCheckpointError extends Error {
  override readonly name = 'WrongCheckpointError';
}

/** A reference-statistics cache file that exists but cannot be used. */
export class ReferenceStatsError extends Error {
  override readonly name = 'ReferenceStatsError';
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
