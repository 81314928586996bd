// Batches as tensors: shapes, the [-1, 1] scaling, label dtypes, and no leaked tensors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf } from '../../services/core/tf.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { imageBatch, labelBatch, oneHotBatch } from '../../services/core/batches.ts';

/** Three 2x3 images: image i has pixel values i*100 + p (capped at 255). */
const SET: ImageSet = {
  source: 'memory', split: 'train', count: 3, height: 2, width: 3, numClasses: 10,
  images: Uint8Array.from({ length: 18 }, (_, k) => Math.min(255, Math.floor(k / 6) * 100 + (k % 6))),
  labels: Uint8Array.from([3, 0, 9]),
};

test('imageBatch is (B, H, W, 1) float32 in [-1, 1] in index order', async () => {
  await tf.setBackend('cpu');
  const before = tf.memory().numTensors;
  const t = imageBatch(SET, Uint32Array.from([2, 0]));
  assert.deepEqual(t.shape, [2, 2, 3, 1]);
  assert.equal(t.dtype, 'float32');
  const v = await t.data();
  assert.ok(Math.abs(v[0] - (200 / 127.5 - 1)) < 1e-6);
  assert.ok(Math.abs(v[6] - -1) < 1e-6); // image 0, pixel 0 = 0
  assert.ok(Math.abs(v[11] - (5 / 127.5 - 1)) < 1e-6);
  t.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('255 maps to 1 and 0 maps to -1', async () => {
  const set: ImageSet = { ...SET, count: 1, height: 1, width: 2, images: Uint8Array.from([0, 255]), labels: Uint8Array.from([1]) };
  const t = imageBatch(set, [0]);
  assert.deepEqual(Array.from(await t.data()), [-1, 1]);
  t.dispose();
});

test('labelBatch is (B,) int32 and oneHotBatch is (B, 10)', async () => {
  const l = labelBatch(SET, [2, 1, 0]);
  assert.equal(l.dtype, 'int32');
  assert.deepEqual(Array.from(await l.data()), [9, 0, 3]);
  const o = oneHotBatch(SET, [2, 0]);
  assert.deepEqual(o.shape, [2, 10]);
  const rows = (await o.array()) as number[][];
  assert.equal(rows[0][9], 1);
  assert.equal(rows[1][3], 1);
  assert.equal(rows.flat().reduce((a, b) => a + b, 0), 2);
  tf.dispose([l, o]);
});

test('an index outside the set is rejected naming the index and position', () => {
  assert.throws(() => imageBatch(SET, [0, 3]), /memory: sample index 3 at position 1 is outside 0\.\.2/);
  assert.throws(() => labelBatch(SET, [-1]), /sample index -1/);
});
