// profileKernels: per-kernel totals of one call under tf.profile, largest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { formatProfile, profileKernels, sortTotals } from '../../services/core/backend/profile.ts';

test('totals by kernel name with counts, sorted by time, and the result disposed', async () => {
  await initBackend('wasm');
  const a = tf.randomNormal([64, 256]);
  const b = tf.randomNormal([256, 256]);
  const before = tf.memory().numTensors;
  const p = await profileKernels(() => tf.tanh(tf.matMul(tf.matMul(a, b), b)));
  assert.equal(p.backend, 'wasm');
  assert.equal(tf.memory().numTensors, before, 'the returned tensor and intermediates are gone');
  const mm = p.kernels.find((k) => k.name === 'BatchMatMul');
  assert.equal(mm?.count, 2);
  assert.equal(p.kernels.find((k) => k.name === 'Tanh')?.count, 1);
  for (let i = 1; i < p.kernels.length; i++) assert.ok(p.kernels[i - 1].ms >= p.kernels[i].ms, 'descending');
  assert.ok(Math.abs(p.kernelMs - p.kernels.reduce((s, k) => s + k.ms, 0)) < 1e-9);
  assert.ok(p.wallMs >= p.kernelMs);
  assert.match(formatProfile(p, 1), /^wasm: .* ms in kernels.*\n .* ms +2x .*BatchMatMul$/);
  tf.dispose([a, b]);
});

test('grouping by shapes splits one kernel by its input shapes', async () => {
  await initBackend('cpu');
  const x = tf.ones([2, 3]);
  const y = tf.ones([4, 3]);
  const p = await profileKernels(() => [tf.relu(x), tf.relu(y), tf.relu(x)], { groupBy: 'shapes' });
  const names = p.kernels.map((k) => k.name).sort();
  assert.deepEqual(names, ['Relu ([2,3])', 'Relu ([4,3])']);
  assert.equal(p.kernels.find((k) => k.name === 'Relu ([2,3])')?.count, 2);
  tf.dispose([x, y]);
});

test('sortTotals breaks ties by count, then name', () => {
  const sorted = sortTotals([{ name: 'b', ms: 1, count: 1 }, { name: 'a', ms: 1, count: 1 }, { name: 'c', ms: 1, count: 3 }, { name: 'd', ms: 2, count: 1 }]);
  assert.deepEqual(sorted.map((k) => k.name), ['d', 'c', 'a', 'b']);
});
