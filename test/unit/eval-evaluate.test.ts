// evaluateImages / evaluateReal with a tiny real classifier on the cpu backend: the numbers equal a
// direct computation from classifier.embed, do not depend on the batch size, and no tensor leaks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { INFER, type ClassifierModel } from '../../services/core/model.ts';
import { deriveSeed, mulberry32 } from '../../services/data/seed.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import {
  arraySource, embedImages, evaluateImages, evaluateReal, samplerSource, scoreEmbeddings, scoreEmbeddingsOffThread, type ImageSampler,
} from '../../services/eval/evaluate.ts';
import { frechetFromStats, gaussianStats } from '../../services/eval/frechet.ts';
import { classScores, logSoftmax } from '../../services/eval/scores.ts';
import { EvalInputError } from '../../services/eval/errors.ts';
import { syntheticImages, tinyClassifier } from './eval-fixtures.ts';

let classifier: ClassifierModel;
before(async () => {
  await tf.setBackend('cpu');
  classifier = tinyClassifier(7);
});
after(() => classifier.dispose());

function randomImages(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * 784 }, () => rand() * 2 - 1);
}

const close = (a: number | undefined, b: number, tol: number, what: string): void =>
  assert.ok(a !== undefined && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: expected ${b}, found ${a}`);

test('scores equal a direct computation from classifier.embed', () => {
  const images = randomImages(30, 1);
  const r = evaluateImages(classifier, images, { batchSize: 30 });
  const { features, logits } = tf.tidy(() => {
    const e = classifier.embed(tf.tensor4d(images, [30, 28, 28, 1]), INFER);
    return { features: e.features.dataSync() as Float32Array, logits: e.logits.dataSync() as Float32Array };
  });
  const fStats = gaussianStats(features, 16);
  const expected = classScores(logSoftmax(logits, 10), 10);
  assert.equal(r.samples, 30);
  close(r.mnistScore, expected.mnistScore, 1e-12, 'mnistScore');
  assert.deepEqual(r.histogram, expected.histogram);
  assert.equal(r.classesCovered, expected.classesCovered);
  assert.equal(r.fdFeatures, undefined, 'no reference, no distance');
  // With the set's own statistics as the reference, both distances vanish.
  const self = evaluateImages(classifier, images, { batchSize: 30, reference: { features: fStats, logits: gaussianStats(logits, 10) } });
  assert.ok(self.fdFeatures! < 1e-9 && self.fdLogits! < 1e-9, `${self.fdFeatures} ${self.fdLogits}`);
});

test('the batch size does not change the result', () => {
  const images = randomImages(23, 2);
  const a = evaluateImages(classifier, images, { batchSize: 23 });
  const b = evaluateImages(classifier, images, { batchSize: 5 });
  close(b.mnistScore, a.mnistScore, 1e-5, 'mnistScore');
  assert.deepEqual(b.histogram, a.histogram);
});

test('evaluateReal: reference statistics of a set are at distance ~0 from the same set', () => {
  const { images, labels } = syntheticImages(40, 3);
  const set: ImageSet = { source: 'synthetic', split: 'test', count: 40, height: 28, width: 28, images, labels, numClasses: 10 };
  const { result, reference } = evaluateReal(classifier, set, { batchSize: 16 });
  assert.equal(result.samples, 40);
  assert.equal(reference.features.dim, 16);
  assert.equal(reference.logits.dim, 10);
  const asFloat = Float32Array.from(images, (v) => v / 127.5 - 1);
  const again = evaluateImages(classifier, asFloat, { batchSize: 16, reference });
  assert.ok(again.fdFeatures! < 1e-6, `fdFeatures ${again.fdFeatures}`);
  assert.ok(again.fdLogits! < 1e-6, `fdLogits ${again.fdLogits}`);
  const other = evaluateImages(classifier, randomImages(40, 4), { batchSize: 16, reference });
  // The untrained classifier's features vary little, so distances are small but far above round-off.
  assert.ok(other.fdFeatures! > 1e-6 && other.fdFeatures! > 1e3 * again.fdFeatures!, `distinct images: ${other.fdFeatures} vs ${again.fdFeatures}`);
  assert.ok(frechetFromStats(reference.features, reference.features) < 1e-15);
});

test('a sampler source draws batch i from deriveSeed(seed, "eval", i); no tensors leak', () => {
  const calls: { n: number; seed: number }[] = [];
  const sampler: ImageSampler = {
    sample(n, seed) {
      calls.push({ n, seed });
      return tf.tensor4d(randomImages(n, seed), [n, 28, 28, 1]);
    },
  };
  const before = tf.memory().numTensors;
  evaluateImages(classifier, samplerSource(sampler, 42), { samples: 25, batchSize: 10 });
  evaluateImages(classifier, samplerSource(sampler, 42), { samples: 25, batchSize: 10 });
  assert.equal(tf.memory().numTensors, before, 'tensor count is flat across evaluations');
  assert.deepEqual(calls.slice(0, 3), [
    { n: 10, seed: deriveSeed(42, 'eval', 0) },
    { n: 10, seed: deriveSeed(42, 'eval', 1) },
    { n: 5, seed: deriveSeed(42, 'eval', 2) },
  ]);
});

test('bad inputs are rejected with the expected and found shapes', () => {
  assert.throws(() => evaluateImages(classifier, new Float32Array(700)), EvalInputError);
  const wrong = () => tf.zeros([4, 28, 28, 3]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  assert.throws(() => evaluateImages(classifier, wrong, { samples: 4 }), /expected shape \[4, 28, 28, 1\], found \[4, 28, 28, 3\]/);
  assert.equal(tf.memory().numTensors, before, 'a failed batch leaks nothing');
  assert.throws(() => evaluateImages(classifier, wrong), /needs opts.samples/);
});

test('scores computed on a worker thread equal those computed here; its errors arrive typed', async () => {
  const { images } = syntheticImages(40, 5);
  const set: ImageSet = { source: 'synthetic', split: 'test', count: 40, height: 28, width: 28, images, labels: new Uint8Array(40), numClasses: 10 };
  const { reference } = evaluateReal(classifier, set, { batchSize: 16 });
  const { source, count } = arraySource(randomImages(30, 6));
  const e = embedImages(classifier, source, count, 10);
  const here = scoreEmbeddings(e, reference).result;
  assert.ok(here.fdFeatures! > 0 && here.fdLogits! > 0);
  assert.deepEqual(await scoreEmbeddingsOffThread(e, reference), here);
  const wrong = { ...reference, logits: { ...reference.logits, dim: 9, mean: reference.logits.mean.slice(0, 9), cov: reference.logits.cov.slice(0, 81) } };
  await assert.rejects(scoreEmbeddingsOffThread(e, wrong),
    (err: unknown) => err instanceof EvalInputError && /reference statistics are for 16 features \/ 9 classes, the classifier gives 16 \/ 10/.test(err.message));
});
