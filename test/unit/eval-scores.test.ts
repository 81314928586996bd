// MNIST score, class histogram and KL-from-uniform on hand-made probability matrices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classScores, classesCovered, klFromUniform, logProbabilities, logSoftmax, mnistScore,
} from '../../services/eval/scores.ts';

function oneHot(labels: number[], classes = 10): Float64Array {
  const p = new Float64Array(labels.length * classes);
  labels.forEach((y, r) => { p[r * classes + y] = 1; });
  return p;
}

test('confident predictions spread evenly over 10 classes score 10', () => {
  const labels = Array.from({ length: 50 }, (_, i) => i % 10);
  const s = classScores(logProbabilities(oneHot(labels), 10), 10);
  assert.ok(Math.abs(s.mnistScore - 10) < 1e-12, `score ${s.mnistScore}`);
  assert.deepEqual(s.histogram, new Array(10).fill(5));
  assert.equal(s.classesCovered, 10);
  assert.equal(s.klUniform, 0);
});

test('every sample predicted as the same class scores 1', () => {
  const s = classScores(logProbabilities(oneHot(new Array(20).fill(3)), 10), 10);
  assert.equal(s.mnistScore, 1);
  assert.equal(s.classesCovered, 1);
  assert.ok(Math.abs(s.klUniform - Math.log(10)) < 1e-12);
  assert.equal(s.histogram[3], 20);
});

test('uniform p(y|x) carries no information: score 1', () => {
  const p = new Float64Array(4 * 10).fill(0.1);
  assert.ok(Math.abs(mnistScore(logProbabilities(p, 10), 10) - 1) < 1e-12);
});

test('two classes, half confident: score by hand', () => {
  // Rows (1, 0) and (0.5, 0.5): p(y) = (0.75, 0.25).
  // KL1 = log(1/0.75); KL2 = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25).
  const p = Float64Array.from([1, 0, 0.5, 0.5]);
  const kl = (Math.log(1 / 0.75) + 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(2)) / 2;
  assert.ok(Math.abs(mnistScore(logProbabilities(p, 2), 2) - Math.exp(kl)) < 1e-12);
});

test('logits with huge magnitudes stay finite (log-sum-exp)', () => {
  const logits = Float32Array.from([1000, 0, 0, -1000, 0, 1000, 0, 0]);
  const lp = logSoftmax(logits, 4);
  assert.ok(lp.every((v) => Number.isFinite(v)));
  assert.ok(Math.abs(mnistScore(lp, 4) - 2) < 1e-9);
});

test('coverage threshold and KL of a skewed histogram', () => {
  assert.equal(classesCovered([95, 5, 0, 0]), 2);
  assert.equal(classesCovered([96, 4, 0, 0]), 1);
  const h = [3, 1];
  const expected = 0.75 * Math.log(0.75 * 2) + 0.25 * Math.log(0.25 * 2);
  assert.ok(Math.abs(klFromUniform(h) - expected) < 1e-15);
});

test('rejects rows that are not distributions', () => {
  assert.throws(() => logProbabilities(Float64Array.from([0.5, 0.4]), 2), /sums to 0.9/);
  assert.throws(() => logProbabilities(Float64Array.from([1.5, -0.5]), 2), /class 0 is 1.5/);
  assert.throws(() => logSoftmax(new Float32Array(5), 2), /N x 2/);
});
