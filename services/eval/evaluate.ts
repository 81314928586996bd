// Scoring a set of images with a trained MNIST classifier: its softmax gives the MNIST score and
// the class histogram; its penultimate features and its logits give two Fréchet distances to the
// real test images' statistics. Images go through the classifier in inference mode, one batch per
// tf.tidy, and only float32 copies of the features and logits leave the backend.
import { tf } from '../core/tf.ts';
import { INFER, type ClassifierModel, type Model } from '../core/model.ts';
import { deriveSeed } from '../data/seed.ts';
import { latentPriorOf, sampleLatents } from '../core/latents.ts';
import type { ImageSet } from '../data/imageset.ts';
import { imageBatch } from '../core/batches.ts';
import { EvalInputError } from './errors.ts';

export type { Embeddings, ReferenceStats } from './distances.ts';
import { distancesTo, fitEmbeddings, type Embeddings, type ReferenceStats } from './distances.ts';
import { distancesOffThread } from './distances-thread.ts';
import { classScores, logSoftmax, type ClassScores } from './scores.ts';

const IMAGE_SHAPE = [28, 28, 1] as const;
const IMAGE_SIZE = 28 * 28;
export const DEFAULT_EVAL_BATCH = 250;

export interface EvalResult extends ClassScores {
  /** Fréchet distance of the classifier's penultimate features to the reference (real test images). */
  fdFeatures?: number;
  /** Fréchet distance of the classifier's logits to the reference. */
  fdLogits?: number;
  samples: number;
}

/** The index-th batch: images start .. start + count - 1 of the set. */
export interface BatchSpan {
  index: number;
  start: number;
  count: number;
}

/** Images of one batch, (count, 28, 28, 1) in [-1, 1]. Called inside tf.tidy. */
export type ImageBatchSource = (batch: BatchSpan) => tf.Tensor4D;

/** Anything that draws n images from a seed in inference mode (GeneratorNode does). */
export interface ImageSampler {
  sample(n: number, seed: number): tf.Tensor4D;
}

/**
 * A loaded generator as an ImageSampler: z of (n, zDim) from `seed` and G's prior, its unit noise N(0, 1) or truncated to
 * [-truncation, truncation] (latents.ts), and G(z) in inference mode.
 */
export function generatorSampler(model: Model, truncation = 0): ImageSampler {
  const prior = latentPriorOf(model);
  return {
    sample: (n, seed) =>
      tf.tidy(() => model.apply(sampleLatents(n, prior, seed, truncation), INFER) as tf.Tensor4D),
  };
}

export interface EvaluateOptions {
  batchSize?: number;
  /** How many images to draw from a batch source (a Float32Array brings its own count). */
  samples?: number;
  /** With it, fdFeatures and fdLogits are computed. */
  reference?: ReferenceStats;
}

/** Batch i of the evaluation draws z from deriveSeed(seed, 'eval', i): same (seed, batch size), same images. */
export function samplerSource(sampler: ImageSampler, seed: number): ImageBatchSource {
  return ({ index, count }) => sampler.sample(count, deriveSeed(seed, 'eval', index));
}

/** A flat (N, 28, 28, 1) array of images in [-1, 1] as a batch source; returns it with N. */
export function arraySource(images: Float32Array): { source: ImageBatchSource; count: number } {
  if (images.length === 0 || images.length % IMAGE_SIZE !== 0) {
    throw new EvalInputError(`images: expected N x 28 x 28 x 1 = N x ${IMAGE_SIZE} values, found ${images.length}`);
  }
  const source: ImageBatchSource = ({ start, count }) =>
    tf.tensor4d(images.subarray(start * IMAGE_SIZE, (start + count) * IMAGE_SIZE), [count, ...IMAGE_SHAPE]);
  return { source, count: images.length / IMAGE_SIZE };
}

/** Every image of an image set, in order, as a batch source. */
export function imageSetSource(set: ImageSet): { source: ImageBatchSource; count: number } {
  if (set.height !== 28 || set.width !== 28) {
    throw new EvalInputError(`${set.source}: the MNIST classifier needs 28 x 28 images, found ${set.height} x ${set.width}`);
  }
  const source: ImageBatchSource = ({ start, count }) =>
    imageBatch(set, Uint32Array.from({ length: count }, (_, i) => start + i));
  return { source, count: set.count };
}

function checkBatch(x: tf.Tensor, count: number, index: number): void {
  const expected = [count, ...IMAGE_SHAPE];
  if (x.shape.join(',') !== expected.join(',')) {
    throw new EvalInputError(`image batch ${index}: expected shape [${expected.join(', ')}], found [${x.shape.join(', ')}]`);
  }
}

/** Runs `count` images through classifier.embed in inference mode. */
export function embedImages(classifier: ClassifierModel, source: ImageBatchSource, count: number, batchSize: number): Embeddings {
  if (!Number.isInteger(count) || count < 2) throw new EvalInputError(`samples: expected an integer >= 2, found ${count}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new EvalInputError(`batch size: expected an integer >= 1, found ${batchSize}`);
  let out: Embeddings | undefined;
  for (let index = 0, start = 0; start < count; index++, start += batchSize) {
    const n = Math.min(batchSize, count - start);
    tf.tidy(() => {
      const x = source({ index, start, count: n });
      checkBatch(x, n, index);
      const { features, logits } = classifier.embed(x, INFER); // (n, F), (n, C)
      out ??= {
        count, featureDim: features.shape[1], classes: logits.shape[1],
        features: new Float32Array(count * features.shape[1]), logits: new Float32Array(count * logits.shape[1]),
      };
      out.features.set(features.dataSync() as Float32Array, start * out.featureDim);
      out.logits.set(logits.dataSync() as Float32Array, start * out.classes);
    });
  }
  return out!;
}

/** Scores and fitted Gaussians of a set of embeddings; distances only with a reference. */
export function scoreEmbeddings(e: Embeddings, reference?: ReferenceStats): { result: EvalResult; stats: ReferenceStats } {
  const stats = fitEmbeddings(e);
  const result: EvalResult = { ...classScores(logSoftmax(e.logits, e.classes), e.classes), samples: e.count };
  if (reference) Object.assign(result, distancesTo(stats, reference));
  return { result, stats };
}

/**
 * scoreEmbeddings with a reference, the Gaussians and distances computed on a worker thread
 * (distances-thread.ts): the same numbers, while this thread goes on (with 1,024 features the
 * distances take seconds).
 */
export async function scoreEmbeddingsOffThread(e: Embeddings, reference: ReferenceStats): Promise<EvalResult> {
  const result: EvalResult = { ...classScores(logSoftmax(e.logits, e.classes), e.classes), samples: e.count };
  return { ...result, ...(await distancesOffThread(e, reference)) };
}

/**
 * Scores images: a flat (N, 28, 28, 1) Float32Array in [-1, 1], or a batch source with
 * opts.samples. Fréchet distances are included when opts.reference is given.
 */
export function evaluateImages(
  classifier: ClassifierModel,
  images: Float32Array | ImageBatchSource,
  opts: EvaluateOptions = {},
): EvalResult {
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  let source: ImageBatchSource;
  let count: number;
  if (images instanceof Float32Array) {
    ({ source, count } = arraySource(images));
  } else {
    if (opts.samples === undefined) throw new EvalInputError('evaluateImages: a batch source needs opts.samples');
    source = images;
    count = opts.samples;
  }
  return scoreEmbeddings(embedImages(classifier, source, count, batchSize), opts.reference).result;
}

/**
 * The real test images: their scores (the row generated images are read against) and the
 * reference statistics. Their own Fréchet distances are 0 by construction and are left out.
 */
export function evaluateReal(
  classifier: ClassifierModel,
  testSet: ImageSet,
  opts: { batchSize?: number } = {},
): { result: EvalResult; reference: ReferenceStats } {
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  const { source, count } = imageSetSource(testSet);
  const { result, stats } = scoreEmbeddings(embedImages(classifier, source, count, batchSize));
  return { result, reference: stats };
}
