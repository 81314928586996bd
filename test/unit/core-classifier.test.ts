// The classifier step: it learns, it does not leak, and a NaN loss is not applied.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { buildClassifier, classifierArch } from '../../services/core/presets.ts';
import { Adam } from '../../services/core/optim.ts';
import { classifierStep } from '../../services/core/classifier/step.ts';
import { NonFiniteError } from '../../services/core/errors.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import { BatchSampler } from '../../services/data/sampler.ts';
import { imageBatch, labelBatch } from '../../services/core/batches.ts';
import type { ImageSet } from '../../services/data/imageset.ts';

let data: ImageSet;
before(async () => {
  await initBackend('wasm');
  data = await loadImageSet({ split: 'test' });
});

const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 };

test('no tensor leaks: tensor count after step 3 equals after step 50; the loss falls', () => {
  const model = buildClassifier(classifierArch('quick', { width: 4, denseUnits: 16 }), 1);
  const opt = new Adam(model.params, hyper);
  const sampler = new BatchSampler({ count: data.count, batchSize: 16, seed: 1 });
  let at3 = 0;
  const losses: number[] = [];
  for (let s = 0; s < 50; s++) {
    const idx = sampler.indices(s);
    const [x, y] = [imageBatch(data, idx), labelBatch(data, idx)];
    losses.push(classifierStep(model, opt, x, y, s).loss);
    tf.dispose([x, y]);
    if (s === 2) at3 = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, at3);
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < first, `loss fell: ${first} -> ${last}`);
  model.dispose();
  opt.dispose();
});

test('a NaN input gives NonFiniteError and no update', () => {
  const model = buildClassifier(classifierArch('quick', { width: 4, denseUnits: 16 }), 1);
  const opt = new Adam(model.params, hyper);
  const before = model.params[0].variable.dataSync().slice();
  const x = tf.fill([4, 28, 28, 1], NaN) as tf.Tensor4D;
  const y = tf.tensor1d([0, 1, 2, 3], 'int32');
  assert.throws(() => classifierStep(model, opt, x, y, 7), (e: unknown) => e instanceof NonFiniteError && e.iteration === 7);
  assert.deepEqual(model.params[0].variable.dataSync(), before);
  assert.equal(opt.step, 0);
  tf.dispose([x, y]);
  model.dispose();
  opt.dispose();
});
