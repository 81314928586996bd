// Sampler invariants: determinism, seed sensitivity, shards disjoint with union = the global
// batch, every index exactly once per epoch even when batches straddle epochs, and the
// train/validation split.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchSampler, permutation, splitTrainValidation } from '../../services/data/sampler.ts';

/** The sample stream positions [from, to) of a sampler, read batch by batch. */
function stream(s: BatchSampler, batches: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < batches; b++) out.push(...s.indices(b));
  return out;
}

test('the same seed gives the same batches, in any order of asking', () => {
  const a = new BatchSampler({ count: 1000, batchSize: 64, seed: 7 });
  const b = new BatchSampler({ count: 1000, batchSize: 64, seed: 7 });
  const forward = [0, 1, 2, 40].map((k) => Array.from(a.indices(k)));
  const backward = [40, 2, 1, 0].map((k) => Array.from(b.indices(k))).reverse();
  assert.deepEqual(forward, backward);
});

test('a different seed gives a different order', () => {
  const a = new BatchSampler({ count: 1000, batchSize: 64, seed: 7 });
  const b = new BatchSampler({ count: 1000, batchSize: 64, seed: 8 });
  assert.notDeepEqual(Array.from(a.indices(0)), Array.from(b.indices(0)));
});

test('consecutive epochs use different permutations', () => {
  const s = new BatchSampler({ count: 100, batchSize: 100, seed: 1 });
  assert.notDeepEqual(Array.from(s.indices(0)), Array.from(s.indices(1)));
});

test('every index appears exactly once per epoch when batches straddle epoch boundaries', () => {
  const count = 250;
  const s = new BatchSampler({ count, batchSize: 48, seed: 3 }); // 250 / 48 is not whole
  assert.equal(s.batchesPerEpoch, count / 48);
  const all = stream(s, Math.ceil((4 * count) / 48));
  for (let e = 0; e < 4; e++) {
    const epoch = all.slice(e * count, (e + 1) * count);
    assert.deepEqual([...epoch].sort((x, y) => x - y), Array.from({ length: count }, (_, i) => i), `epoch ${e}`);
  }
  // Batch 5 covers positions 240..287: the last 10 of epoch 0 and the first 38 of epoch 1.
  assert.equal(s.epochOf(5), 0);
  assert.equal(s.epochOf(6), 1);
  assert.deepEqual(Array.from(s.indices(5)), [
    ...Array.from(s.epochPermutation(0).subarray(240)),
    ...Array.from(s.epochPermutation(1).subarray(0, 38)),
  ]);
});

test('a batch larger than the dataset spans several epochs correctly', () => {
  const s = new BatchSampler({ count: 5, batchSize: 12, seed: 9 });
  const batch = Array.from(s.indices(1)); // positions 12..23: epochs 2, 3, 4
  const expected = [...s.epochPermutation(2).subarray(2), ...s.epochPermutation(3), ...s.epochPermutation(4).subarray(0, 4)];
  assert.deepEqual(batch, expected);
});

test('shards are disjoint, contiguous slices whose union is the global batch', () => {
  const s = new BatchSampler({ count: 777, batchSize: 96, seed: 11 });
  for (const size of [1, 2, 3, 4, 8]) {
    for (const b of [0, 8, 9, 100]) {
      const global = Array.from(s.indices(b));
      const shards = Array.from({ length: size }, (_, rank) => Array.from(s.indices(b, { rank, size })));
      assert.deepEqual(shards.flat(), global, `size ${size} batch ${b}`);
      // Batch 8 (positions 768..863) straddles epochs 0 and 1 of 777 samples, so one sample may
      // rightly appear twice in it; within one epoch no index may repeat across shards.
      if (b === 8) continue;
      const seen = new Set<number>();
      for (const shard of shards) {
        assert.equal(shard.length, 96 / size);
        for (const i of shard) { assert.ok(!seen.has(i), `index ${i} in two shards`); seen.add(i); }
      }
    }
  }
});

test('a shard count that does not divide the batch names both numbers', () => {
  const s = new BatchSampler({ count: 100, batchSize: 10, seed: 0 });
  assert.throws(() => s.indices(0, { rank: 0, size: 3 }), /global batch size 10 is not divisible by shard count 3/);
  assert.throws(() => s.indices(0, { rank: 3, size: 2 }), /rank must be in 0\.\.1, got 3/);
  assert.throws(() => new BatchSampler({ count: 0, batchSize: 10, seed: 0 }), /count must be a positive integer, got 0/);
  assert.throws(() => s.indices(-1), /globalBatch/);
});

test('sampler order is the seeded Fisher-Yates permutation, deterministic across instances', () => {
  const p = permutation(10, 1234);
  assert.deepEqual(Array.from(p), Array.from(permutation(10, 1234)));
  assert.deepEqual([...p].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(Array.from(p), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('the first epoch of MNIST sized sampling is fast and complete', () => {
  const s = new BatchSampler({ count: 60000, batchSize: 64, seed: 5 });
  const started = performance.now();
  const seen = new Uint8Array(60000);
  for (let b = 0; b < 937; b++) for (const i of s.indices(b)) seen[i]++;
  assert.ok(performance.now() - started < 1000);
  assert.equal(seen.filter((v) => v === 1).length, 937 * 64);
});

test('splitTrainValidation is seeded, disjoint and covers everything', () => {
  const a = splitTrainValidation(1000, 100, 42);
  const b = splitTrainValidation(1000, 100, 42);
  const c = splitTrainValidation(1000, 100, 43);
  assert.deepEqual(a, b);
  assert.notDeepEqual(Array.from(a.validation), Array.from(c.validation));
  assert.equal(a.validation.length, 100);
  assert.equal(a.train.length, 900);
  const all = [...a.train, ...a.validation].sort((x, y) => x - y);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(Array.from(a.train), [...a.train].sort((x, y) => x - y));
  assert.throws(() => splitTrainValidation(10, 10, 1), /validationCount must be in 0\.\.9/);
});
