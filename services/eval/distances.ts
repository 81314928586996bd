// The Fréchet distances of a set of classifier embeddings to the reference (the real test
// images): the Gaussians fitted to both embeddings, then frechet.ts. No tfjs here, so that the
// distances can also run on a worker thread (distances-thread.ts) without loading a backend.
import { EvalInputError } from './errors.ts';
import { frechetFromStats, gaussianStats, type GaussianStats } from './frechet.ts';

/** The classifier's outputs for a set of images, as float32 rows. */
export interface Embeddings {
  count: number;
  featureDim: number;
  classes: number;
  features: Float32Array; // (N, F)
  logits: Float32Array; // (N, C)
}

/** The real test images' Gaussians in both embeddings: what generated images are compared with. */
export interface ReferenceStats {
  features: GaussianStats;
  logits: GaussianStats;
}

export interface Distances {
  fdFeatures: number;
  fdLogits: number;
}

/** The Gaussians fitted to both embeddings. */
export function fitEmbeddings(e: Embeddings): ReferenceStats {
  return {
    features: gaussianStats(e.features, e.featureDim, 'classifier features'),
    logits: gaussianStats(e.logits, e.classes, 'classifier logits'),
  };
}

/** Both distances of fitted embeddings to the reference, which must come from the same classifier. */
export function distancesTo(stats: ReferenceStats, reference: ReferenceStats): Distances {
  if (reference.features.dim !== stats.features.dim || reference.logits.dim !== stats.logits.dim) {
    throw new EvalInputError(
      `reference statistics are for ${reference.features.dim} features / ${reference.logits.dim} classes, ` +
        `the classifier gives ${stats.features.dim} / ${stats.logits.dim}: they belong to another classifier`,
    );
  }
  return { fdFeatures: frechetFromStats(stats.features, reference.features), fdLogits: frechetFromStats(stats.logits, reference.logits) };
}
