// The sampling latents: untruncated they are exactly the N(0, 1) draw every run has sampled from;
// truncated they stay in [-t, t], keep the components that were inside, follow the truncated
// normal's variance, and are a pure function of (seed, t).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { sampleLatents } from '../../services/core/latents.ts';
import { isTruncation } from '../../services/core/catalog.ts';
import { ganTrainSchema, parseConfig, resumeKey } from '../../services/train/config.ts';

await tf.setBackend('cpu');

const values = (t: tf.Tensor): number[] => {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

/** Variance of N(0, 1) truncated to [-t, t]: 1 - 2 t phi(t) / (2 Phi(t) - 1). */
function truncatedVariance(t: number): number {
  const phi = Math.exp(-t * t / 2) / Math.sqrt(2 * Math.PI);
  // Phi(t) - Phi(-t) by Simpson's rule on phi over [-t, t].
  const steps = 2000;
  let mass = 0;
  for (let i = 0; i <= steps; i++) {
    const x = -t + (2 * t * i) / steps;
    const w = i === 0 || i === steps ? 1 : i % 2 === 1 ? 4 : 2;
    mass += (w * Math.exp(-x * x / 2)) / Math.sqrt(2 * Math.PI);
  }
  mass *= (2 * t) / steps / 3;
  return 1 - (2 * t * phi) / mass;
}

test('untruncated latents are the N(0, 1) draw of the same seed (what runs sampled before truncation existed)', () => {
  assert.deepEqual(values(sampleLatents(64, 16, 1234)), values(tf.randomNormal([64, 16], 0, 1, 'float32', 1234)));
});

test('truncated latents lie in [-t, t], keep the components already inside, and have the truncated normal\'s variance', () => {
  const t = 1;
  const plain = values(sampleLatents(2000, 16, 7));
  const cut = values(sampleLatents(2000, 16, 7, t));
  assert.ok(cut.every((v) => Math.abs(v) <= t), 'every component within the threshold');
  plain.forEach((v, i) => { if (Math.abs(v) <= t) assert.equal(cut[i], v, `component ${i} was inside and is kept`); });
  const redrawn = plain.filter((v) => Math.abs(v) > t).length;
  assert.ok(redrawn > 0.25 * plain.length, `about a third are redrawn (${redrawn})`);
  const mean = cut.reduce((a, b) => a + b, 0) / cut.length;
  const variance = cut.reduce((a, b) => a + (b - mean) ** 2, 0) / cut.length;
  const expected = truncatedVariance(t); // 0.291
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - expected) < 0.01, `variance ${variance} against ${expected}`);
});

test('truncated latents are a pure function of (seed, t)', () => {
  assert.deepEqual(values(sampleLatents(100, 8, 3, 0.5)), values(sampleLatents(100, 8, 3, 0.5)));
  assert.notDeepEqual(values(sampleLatents(100, 8, 3, 0.5)), values(sampleLatents(100, 8, 4, 0.5)));
  assert.notDeepEqual(values(sampleLatents(100, 8, 3, 0.5)), values(sampleLatents(100, 8, 3, 0.75)));
  assert.ok(values(sampleLatents(100, 8, 3, 0.25)).every((v) => Math.abs(v) <= 0.25), 'the smallest threshold terminates');
});

test('a threshold outside 0 or 0.25..5 is refused, by the sampler and by the training config, naming the bounds', () => {
  assert.equal(isTruncation(0), true);
  assert.equal(isTruncation(0.1), false);
  assert.equal(isTruncation(6), false);
  assert.throws(() => sampleLatents(2, 2, 1, 0.1), /truncation: expected 0 \(no truncation\) or a threshold in 0\.25\.\.5 standard deviations, found 0\.1/);
  assert.throws(() => parseConfig(ganTrainSchema, { truncation: -1 }, 'test'), /truncation.*0\.25\.\.5/);
  const cfg = parseConfig(ganTrainSchema, { truncation: 1.5 }, 'test');
  assert.equal(cfg.truncation, 1.5);
  assert.equal(resumeKey(cfg), resumeKey(parseConfig(ganTrainSchema, {}, 'test')), 'how samples are drawn does not block a resume');
});
