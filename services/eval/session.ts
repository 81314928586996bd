// An evaluation session: a loaded classifier with the reference statistics of its test set, ready
// to score any number of image sets. Shared by `gantry eval`, the periodic evaluator and the
// quality benchmark, so all three compute the same numbers the same way.
import type { ClassifierModel } from '../core/model.ts';
import { loadImageSet } from '../data/mnist.ts';
import type { Logger } from '../telemetry/log.ts';
import {
  DEFAULT_EVAL_BATCH, embedImages, evaluateImages, samplerSource, scoreEmbeddingsOffThread,
  type EvalResult, type ImageSampler, type ReferenceStats,
} from './evaluate.ts';
import { loadDefaultClassifier, DEFAULT_RUNS_DIR, type LoadedModel } from './models.ts';
import { loadOrComputeReference } from './reference.ts';

export interface EvalSessionOptions {
  /** A classifier run or checkpoint; default: the newest classifier run under runsDir. */
  classifierDir?: string;
  runsDir?: string;
  /** The test set's directory; default: the one the classifier was trained with (its config's `data`). */
  data?: string;
  batchSize?: number;
  log?: Logger;
}

export interface EvalSession {
  readonly classifier: LoadedModel<ClassifierModel>;
  readonly reference: ReferenceStats;
  /** The real test images' scores. */
  readonly real: EvalResult;
  readonly referenceFile: string;
  readonly batchSize: number;
  /** `samples` images from the sampler, batch i from deriveSeed(seed, 'eval', i), scored. */
  scoreSampler(sampler: ImageSampler, samples: number, seed: number): EvalResult;
  /**
   * The same scores, with the Fréchet distances computed on a worker thread: the images are drawn
   * and classified before this returns (the sampler may change from then on), the promise settles
   * when the distances are done.
   */
  scoreSamplerOffThread(sampler: ImageSampler, samples: number, seed: number): Promise<EvalResult>;
  /** A flat (N, 28, 28, 1) array of images in [-1, 1], scored. */
  scoreImages(images: Float32Array): EvalResult;
  dispose(): void;
}

function dataDirOf(config: Record<string, unknown>): string | undefined {
  return typeof config.data === 'string' ? config.data : undefined;
}

export async function openEvalSession(opts: EvalSessionOptions = {}): Promise<EvalSession> {
  const log = opts.log;
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  const classifier = await loadDefaultClassifier(opts.classifierDir, opts.runsDir ?? DEFAULT_RUNS_DIR, (w) => log?.warn(w));
  try {
    const testSet = await loadImageSet({ dir: opts.data ?? dataDirOf(classifier.manifest.config), split: 'test' });
    const ref = await loadOrComputeReference(classifier, testSet, { batchSize, log });
    log?.info('evaluation classifier', { checkpoint: classifier.checkpointDir, reference: ref.file, cached: ref.cached });
    return {
      classifier, reference: ref.reference, real: ref.real, referenceFile: ref.file, batchSize,
      scoreSampler: (sampler, samples, seed) =>
        evaluateImages(classifier.model, samplerSource(sampler, seed), { samples, batchSize, reference: ref.reference }),
      scoreSamplerOffThread: (sampler, samples, seed) =>
        scoreEmbeddingsOffThread(embedImages(classifier.model, samplerSource(sampler, seed), samples, batchSize), ref.reference),
      scoreImages: (images) => evaluateImages(classifier.model, images, { batchSize, reference: ref.reference }),
      dispose: () => classifier.model.dispose(),
    };
  } catch (err) {
    classifier.model.dispose();
    throw err;
  }
}
