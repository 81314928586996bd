// The sampling latents: untruncated they are exactly the N(0, 1) draw every run has sampled from;
// truncated they stay in [-t, t], keep the components that were inside, follow the truncated
// normal's variance, and are a pure function of (seed, t).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { componentLatents, latentPriorOf, mixtureComponents, mixtureMeans, sampleLatents } from '../../services/core/latents.ts';
import { buildGenerator, ganArch } from '../../services/core/presets.ts';
import { isTruncation } from '../../services/core/catalog.ts';
import { ganTrainSchema, parseConfig, resumeKey, toGanMathConfig } from '../../services/train/config.ts';

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

test('a mixture prior: each latent is its component\'s fixed mean plus unit noise, components uniform, means a function of (K, zDim, spread)', () => {
  const prior = { zDim: 4, zMixture: 5, zSpread: 2 };
  const n = 5000;
  const z = values(sampleLatents(n, prior, 11));
  const noise = values(sampleLatents(n, 4, 11));
  const means = mixtureMeans(prior);
  const components = mixtureComponents(n, 5, 11);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(z[i * 4 + j] - (noise[i * 4 + j] + means[components[i] * 4 + j])) < 1e-5, `latent ${i}, dimension ${j}`);
  }
  const counts = Array.from({ length: 5 }, (_, k) => components.filter((c) => c === k).length);
  counts.forEach((c, k) => assert.ok(Math.abs(c - n / 5) < 100, `component ${k} holds ${c} of ${n}`));
  assert.deepEqual(Array.from(mixtureMeans({ zDim: 4, zMixture: 5, zSpread: 2 })), Array.from(means), 'the same prior, the same means');
  assert.notDeepEqual(Array.from(mixtureMeans({ zDim: 4, zMixture: 6, zSpread: 2 })).slice(0, 20), Array.from(means));
  const unit = mixtureMeans({ zDim: 4, zMixture: 5, zSpread: 1 });
  unit.forEach((m, i) => assert.ok(Math.abs(2 * m - means[i]) < 1e-5, 'the spread scales the means'));
  const wide = mixtureMeans({ zDim: 64, zMixture: 64, zSpread: 3 });
  const sd = Math.sqrt(wide.reduce((a, b) => a + b * b, 0) / wide.length);
  assert.ok(Math.abs(sd - 3) < 0.15, `the means' standard deviation ${sd} is the spread`);
  assert.deepEqual(values(sampleLatents(8, { zDim: 4, zMixture: 0 }, 3)), values(sampleLatents(8, 4, 3)), 'zMixture 0 is N(0, I)');
});

test('a truncated mixture truncates each component\'s noise, not the latent', () => {
  const prior = { zDim: 3, zMixture: 4, zSpread: 3 };
  const z = values(sampleLatents(500, prior, 5, 0.5));
  const means = mixtureMeans(prior);
  const components = mixtureComponents(500, 4, 5);
  z.forEach((v, i) => assert.ok(Math.abs(v - means[components[Math.floor(i / 3)] * 3 + (i % 3)]) <= 0.5 + 1e-6, `latent component ${i} within 0.5 of its mean`));
  assert.ok(z.some((v) => Math.abs(v) > 1), 'the means themselves are not truncated');
});

test('the mixture prior is part of the arch: a generator built with it samples from it, and bad component counts are refused naming the field', () => {
  const arch = ganArch('dcgan', { zDim: 8, gWidth: 8, dWidth: 8, zMixture: 10, zSpread: 1.5 });
  const g = buildGenerator(arch, 1);
  assert.deepEqual(latentPriorOf(g), { zDim: 8, zMixture: 10, zSpread: 1.5 });
  assert.deepEqual(latentPriorOf(buildGenerator(ganArch('dcgan', { zDim: 8, gWidth: 8, dWidth: 8 }), 1)), { zDim: 8, zMixture: 0, zSpread: 1 });
  assert.throws(() => ganArch('dcgan', { zMixture: 1 }), /zMixture[\s\S]*2\.\.1024 mixture components/);
  assert.throws(() => parseConfig(ganTrainSchema, { zMixture: 1 }, 'test'), /zMixture.*2\.\.1024/);
  assert.throws(() => parseConfig(ganTrainSchema, { zSpread: 20 }, 'test'), /zSpread.*10/);
  const cfg = parseConfig(ganTrainSchema, { zMixture: 10 }, 'test');
  assert.equal(toGanMathConfig(cfg).arch.zMixture, 10);
  assert.notEqual(resumeKey(cfg), resumeKey(parseConfig(ganTrainSchema, {}, 'test')), 'the prior is what G is trained on: a resume must keep it');
  g.dispose();
});

test('componentLatents: one component\'s mean plus the same unit noise, and bad components refused naming the range', () => {
  const prior = { zDim: 4, zMixture: 3, zSpread: 1 };
  const means = mixtureMeans(prior);
  const z = values(componentLatents(50, prior, 2, 9));
  const noise = values(sampleLatents(50, 4, 9));
  z.forEach((v, i) => assert.ok(Math.abs(v - (noise[i] + means[8 + (i % 4)])) < 1e-5, `latent component ${i}`));
  assert.throws(() => componentLatents(2, prior, 3, 1), /component: expected an integer in 0\.\.2, found 3/);
  assert.throws(() => componentLatents(2, { zDim: 4 }, 0, 1), /component: the prior is N\(0, I\) \(zMixture 0\); it has no mixture components/);
});
