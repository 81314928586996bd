// Standing statistics (services/core/standing-stats.ts): a generator's batch-norm moving averages
// re-estimated for its own weights, as the mean of the batch statistics over N batches of latents
// from a fixed seed; and the generator node that samples with them from a twin, never touching G.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { buildGenerator, ganArch } from '../../services/core/presets.ts';
import { INFER, TRAIN_NO_STATS } from '../../services/core/model.ts';
import { standingStatistics } from '../../services/core/standing-stats.ts';
import { deriveSeed } from '../../services/data/seed.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';

before(async () => {
  await tf.setBackend('cpu');
});

const arch = ganArch('dcgan', { zDim: 8, gWidth: 4, dWidth: 4, gLayers: 3 });
const values = (vs: readonly { variable: tf.Variable }[]): number[][] => vs.map((v) => Array.from(v.variable.dataSync()));
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

test('over one batch, inference with the standing statistics is the training-mode forward of that batch', () => {
  const g = buildGenerator(arch, 3);
  standingStatistics(g, { batches: 1, batchSize: 16, seed: 5 });
  const z = tf.randomNormal([16, 8], 0, 1, 'float32', deriveSeed(5, 'standing', 0));
  const [infer, train] = [g.apply(z, INFER), g.apply(z, TRAIN_NO_STATS)];
  assert.ok(maxAbsDiff(infer, train) < 1e-5, `max abs diff ${maxAbsDiff(infer, train)}`);
  // ... and not with the initial statistics (mean 0, variance 1).
  const fresh = buildGenerator(arch, 3);
  const before = fresh.apply(z, INFER);
  assert.ok(maxAbsDiff(before, train) > 1e-2);
  tf.dispose([z, infer, train, before]);
  g.dispose();
  fresh.dispose();
});

test("the first batch norm's mean is the mean over the batches of its input's batch means", () => {
  const g = buildGenerator(arch, 3);
  const tensors = tf.memory().numTensors;
  standingStatistics(g, { batches: 3, batchSize: 8, seed: 7 });
  assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
  const kernel = g.params.find((p) => p.name === 'fc2/kernel')!.variable;
  const bias = g.params.find((p) => p.name === 'fc2/bias')!.variable;
  const expected = tf.tidy(() => tf.addN([0, 1, 2].map((i) => {
    const z = tf.randomNormal([8, 8], 0, 1, 'float32', deriveSeed(7, 'standing', i));
    return tf.mean(tf.add(tf.matMul(z, kernel), bias), 0);
  })).div(3));
  const mean = g.state.find((s) => s.name === 'bn2/moving_mean')!.variable;
  assert.ok(maxAbsDiff(mean, expected) < 1e-5, `max abs diff ${maxAbsDiff(mean, expected)}`);
  const variance = g.state.find((s) => s.name === 'bn2/moving_variance')!.variable;
  assert.ok(variance.dataSync().every((v) => v > 0 && v !== 1), 'the variances were re-estimated');
  expected.dispose();
  g.dispose();
});

test('batches must be a positive integer', () => {
  const g = buildGenerator(arch, 3);
  assert.throws(() => standingStatistics(g, { batches: 0, batchSize: 8, seed: 1 }), /standing statistics: batches must be a positive integer, got 0/);
  g.dispose();
});

test("a generator node with standingStats samples from a twin with its weights' own statistics; G is untouched", () => {
  const cfg: GanMathConfig = {
    arch, loss: 'nonsaturating', batchSize: 4, dSteps: 1, seed: 2, lrG: 1e-2, lrD: 1e-2, beta1: 0.5, beta2: 0.999,
    lrDecay: false, gpLambda: 10, gEma: 0, standingStats: 2,
  };
  const node = new GeneratorNode(cfg);
  const step = (t: number): void => {
    const up = tf.randomNormal([4, 28, 28, 1], 0, 0.1, 'float32', t);
    node.applyUpstream(t, up as tf.Tensor4D);
    up.dispose();
  };
  step(0);
  const ownState = values(node.model.state);
  const first = node.sample(6, 77);
  const twin = node.samplingModel();
  assert.notEqual(twin, node.model);
  assert.deepEqual(values(twin.params), values(node.model.params), 'the twin holds G\'s weights (no average kept)');
  assert.deepEqual(values(node.model.state), ownState, "G's own statistics are untouched");
  // The same statistics as a standing estimate of a copy of G with the run's batch size and seed
  // (what `gantry eval` computes from a checkpoint).
  const copy = buildGenerator(arch, 9);
  copy.params.forEach((p, i) => p.variable.assign(node.model.params[i].variable));
  standingStatistics(copy, { batches: 2, batchSize: 4, seed: 2 });
  assert.deepEqual(values(twin.state), values(copy.state));
  // Sampling again without a step re-uses them; after a step they are estimated again.
  const settled = tf.memory().numTensors;
  const again = node.sample(6, 77);
  assert.deepEqual(Array.from(again.dataSync()), Array.from(first.dataSync()));
  again.dispose();
  assert.equal(tf.memory().numTensors, settled);
  step(1);
  const later = node.sample(6, 77);
  assert.notDeepEqual(values(node.samplingModel().state), values(copy.state));
  tf.dispose([first, later]);
  copy.dispose();
  node.dispose();
});
