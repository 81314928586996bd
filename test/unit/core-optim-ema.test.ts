// The moving average of the weights that Adam keeps with emaDecay > 0 (the generator's --g-ema):
// the TensorFlow recurrence with its warm-up, its slots in checkpoints, clear errors when a
// checkpoint and a run disagree about it, and a generator that samples from it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { Adam, emaDecayAt, type AdamHyper } from '../../services/core/optim.ts';
import { ganArch } from '../../services/core/presets.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import { INFER } from '../../services/core/model.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';

before(async () => {
  await tf.setBackend('cpu');
});

const hyper = (emaDecay: number): AdamHyper => ({ lr: 0.05, beta1: 0.5, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1, emaDecay });

test('the warm-up decay is min(decay, (1 + t) / (10 + t))', () => {
  assert.equal(emaDecayAt(0.999, 1), 2 / 11);
  assert.equal(emaDecayAt(0.999, 90), 91 / 100);
  assert.equal(emaDecayAt(0.9, 1000), 0.9);
});

test('the average follows e_t = d_t e_(t-1) + (1 - d_t) p_t from the initial weights', () => {
  const init = [0.5, -1, 2, 0.25, -0.75, 1.5];
  const p = { name: 'w', variable: tf.variable(tf.tensor2d(init, [3, 2])) };
  const adam = new Adam([p], hyper(0.99));
  let expected = init.slice();
  for (let t = 1; t <= 30; t++) {
    const g = tf.tensor2d(init.map((v, i) => Math.sin(v * t + i)), [3, 2]);
    adam.apply([g]);
    g.dispose();
    const now = Array.from(p.variable.dataSync());
    const d = emaDecayAt(0.99, t);
    expected = expected.map((e, i) => d * e + (1 - d) * now[i]);
  }
  const [avg] = adam.averages();
  assert.equal(avg.name, 'w');
  const got = Array.from(avg.variable.dataSync());
  got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i])), `element ${i}: ${v} vs ${expected[i]}`));
  assert.notDeepEqual(got, Array.from(p.variable.dataSync()), 'the average lags the weights');
  assert.deepEqual(adam.slotTensors().map((s) => s.name), ['w/m', 'w/v', 'w/ema']);
  adam.dispose();
  p.variable.dispose();
});

test('loading slots names the moving average when a checkpoint has one and the run does not, or the reverse', () => {
  const p = { name: 'w', variable: tf.variable(tf.zeros([2])) };
  const slot = { shape: [2], data: new Float32Array(2) };
  const withAvg = new Adam([p], hyper(0.9));
  const without = new Adam([p], hyper(0));
  assert.throws(() => withAvg.loadSlots(1, new Map([['w/m', slot], ['w/v', slot]])), /w\/ema is missing.*moving average/);
  assert.throws(() => without.loadSlots(1, new Map([['w/m', slot], ['w/v', slot], ['w/ema', slot]])), /w\/ema.*moving average/);
  withAvg.loadSlots(4, new Map([['w/m', slot], ['w/v', slot], ['w/ema', { shape: [2], data: Float32Array.of(3, 4) }]]));
  assert.deepEqual(Array.from(withAvg.averages()[0].variable.dataSync()), [3, 4]);
  withAvg.dispose();
  without.dispose();
  p.variable.dispose();
});

test('a generator with gEma samples from the average, and trains only its own weights', () => {
  const cfg: GanMathConfig = {
    arch: ganArch('mlp', { zDim: 8, gWidth: 16, dWidth: 16 }), loss: 'nonsaturating', batchSize: 4, dSteps: 1,
    seed: 2, lrG: 1e-2, lrD: 1e-2, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0.9,
  };
  const g = new GeneratorNode(cfg);
  const before = tf.memory().numTensors;
  for (let t = 0; t < 5; t++) {
    const up = tf.randomNormal([4, 28, 28, 1], 0, 0.1, 'float32', t);
    g.applyUpstream(t, up as tf.Tensor4D);
    up.dispose();
  }
  const sampled = g.sample(6, 77);
  const own = tf.tidy(() => g.model.apply(tf.randomNormal([6, 8], 0, 1, 'float32', 77), INFER));
  const twin = g.samplingModel();
  assert.notEqual(twin, g.model);
  assert.deepEqual(twin.params.map((p) => Array.from(p.variable.dataSync())), g.optimizer.averages().map((a) => Array.from(a.variable.dataSync())));
  assert.notDeepEqual(Array.from(sampled.dataSync()), Array.from(own.dataSync()), 'samples come from the average, not from G');
  tf.dispose([sampled, own]);
  g.sample(6, 77).dispose();
  // The twin is built once: repeated sampling allocates nothing that stays.
  const settled = tf.memory().numTensors;
  g.sample(6, 78).dispose();
  assert.equal(tf.memory().numTensors, settled);
  assert.ok(settled >= before);
  g.dispose();
});
