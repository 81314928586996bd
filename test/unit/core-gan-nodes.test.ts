// The GAN step functions: determinism, idempotent retries, NaN handling, no tensor leaks.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { ganArch } from '../../services/core/presets.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import { DiscriminatorNode } from '../../services/core/gan/discriminator-node.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';
import { NonFiniteError } from '../../services/core/errors.ts';
import { ganIteration } from '../../services/train/gan-trainer.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { mixtureMeans } from '../../services/core/latents.ts';

let data: ImageSet;
before(async () => {
  await initBackend('wasm');
  data = await loadImageSet({ split: 'test' });
});

const cfg = (over: Partial<GanMathConfig> = {}): GanMathConfig => ({
  arch: ganArch('mlp', { zDim: 8, gWidth: 16, dWidth: 16 }), loss: 'nonsaturating', batchSize: 8, dSteps: 1,
  seed: 3, lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0, ...over,
});

const weights = (n: GeneratorNode | DiscriminatorNode) => n.snapshot().tensors.map((t) => Array.from(t.data));

test('same seed and config give the same weights; another seed does not', () => {
  const run = (seed: number) => {
    const g = new GeneratorNode(cfg({ seed, dSteps: 2, loss: 'hinge' }));
    const d = new DiscriminatorNode(cfg({ seed, dSteps: 2, loss: 'hinge' }), data);
    for (let t = 0; t < 3; t++) ganIteration(g, d, t);
    const w = [weights(g), weights(d)];
    g.dispose();
    d.dispose();
    return w;
  };
  const a = run(3);
  assert.deepEqual(run(3), a);
  assert.notDeepEqual(run(4), a);
});

test('a retried D-step or G-step is not applied twice', () => {
  const g = new GeneratorNode(cfg());
  const d = new DiscriminatorNode(cfg(), data);
  const fake = g.generate(0, 0);
  const real = d.realBatch(0, 0);
  assert.equal(d.trainStep(0, 0, real, fake).applied, true);
  const afterOnce = weights(d);
  const again = d.trainStep(0, 0, real, fake);
  assert.equal(again.applied, false);
  assert.deepEqual(weights(d), afterOnce);
  const f2 = g.generate(0, 1);
  const { grad } = d.generatorGrad(0, f2);
  assert.equal(g.applyUpstream(0, grad).applied, true);
  const gOnce = weights(g);
  assert.equal(g.applyUpstream(0, grad).applied, false);
  assert.deepEqual(weights(g), gOnce);
  tf.dispose([fake, real, f2, grad]);
  g.dispose();
  d.dispose();
});

test('a NaN upstream gradient stops with NonFiniteError and leaves G unchanged', () => {
  const g = new GeneratorNode(cfg());
  const before = weights(g);
  const bad = tf.fill([8, 28, 28, 1], NaN) as tf.Tensor4D;
  assert.throws(() => g.applyUpstream(0, bad), (e: unknown) => e instanceof NonFiniteError && /iteration 0/.test(e.message));
  assert.deepEqual(weights(g), before);
  assert.equal(g.lastAppliedIteration, -1);
  bad.dispose();
  g.dispose();
});

test('a NaN real batch makes the D loss non-finite: error, D unchanged', () => {
  const d = new DiscriminatorNode(cfg(), data);
  const before = weights(d);
  const nan = tf.fill([8, 28, 28, 1], NaN) as tf.Tensor4D;
  assert.throws(() => d.trainStep(0, 0, nan, nan), NonFiniteError);
  assert.deepEqual(weights(d), before);
  nan.dispose();
  d.dispose();
});

test('wrong batch shape is rejected naming the field', () => {
  const d = new DiscriminatorNode(cfg(), data);
  const x = tf.zeros([4, 28, 28, 1]) as tf.Tensor4D;
  assert.throws(() => d.generatorGrad(0, x), /fake: expected shape \[8, 28, 28, 1\], found \[4, 28, 28, 1\]/);
  x.dispose();
  d.dispose();
});

for (const [preset, loss] of [['mlp', 'wgan-gp'], ['dcgan', 'nonsaturating']] as const) {
  test(`no tensor leaks: ${preset}/${loss} tensor count after iteration 3 equals after iteration 50`, () => {
    const c = cfg({ arch: ganArch(preset, { zDim: 8, gWidth: 4, dWidth: 4 }), loss, batchSize: 4 });
    const g = new GeneratorNode(c);
    const d = new DiscriminatorNode(c, data);
    let at3 = 0;
    for (let t = 0; t < 50; t++) {
      ganIteration(g, d, t);
      if (t === 2) at3 = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, at3);
    g.dispose();
    d.dispose();
  });
}

// The in-process G-step (one tape through D and G) against the services' exchange (generate,
// generatorGrad, applyUpstream): the same update, bit for bit, batch norm in both networks.
for (const loss of ['nonsaturating', 'wgan-gp'] as const) {
  test(`applyObjective through D equals generate + generatorGrad + applyUpstream: dcgan/${loss}`, () => {
    const c = cfg({ arch: ganArch('dcgan', { zDim: 8, gWidth: 4, dWidth: 4, gLayers: 4 }), loss, batchSize: 4 });
    const pair = () => ({ g: new GeneratorNode(c), d: new DiscriminatorNode(c, data) });
    const split = pair();
    const fused = pair();
    const lossG: [number, number][] = [];
    for (let t = 0; t < 3; t++) {
      for (const { g, d } of [split, fused]) {
        const fake = g.generate(t, 0);
        const real = d.realBatch(t, 0);
        d.trainStep(t, 0, real, fake);
        tf.dispose([fake, real]);
      }
      const fake = split.g.generate(t, 1);
      const r = split.d.generatorGrad(t, fake);
      assert.equal(split.g.applyUpstream(t, r.grad).applied, true);
      tf.dispose([fake, r.grad]);
      const f = fused.g.applyObjective(t, (x) => fused.d.generatorLoss(x), 'generator loss');
      assert.equal(f.applied, true);
      lossG.push([r.lossG, f.value]);
    }
    for (const [a, b] of lossG) assert.equal(b, a);
    assert.deepEqual(weights(fused.g), weights(split.g)); // weights, batch-norm statistics
    assert.deepEqual(fused.g.snapshot().optimizer.slots.map((s) => Array.from(s.data)),
      split.g.snapshot().optimizer.slots.map((s) => Array.from(s.data)));
    assert.deepEqual(weights(fused.d), weights(split.d)); // D not updated by either G-step
    for (const n of [split.g, split.d, fused.g, fused.d]) n.dispose();
  });
}

test('applyObjective: a NaN objective stops before any update, naming it; a retried G-step is not applied twice', () => {
  const g = new GeneratorNode(cfg());
  const d = new DiscriminatorNode(cfg(), data);
  const params = () => g.model.params.map((p) => Array.from(p.variable.dataSync()));
  const before = params();
  assert.throws(() => g.applyObjective(0, (x) => tf.mul(d.generatorLoss(x), NaN) as tf.Scalar, 'generator loss'),
    (e: unknown) => e instanceof NonFiniteError && /generator loss/.test(e.message) && /iteration 0/.test(e.message));
  assert.deepEqual(params(), before);
  assert.equal(g.lastAppliedIteration, -1);
  const first = g.applyObjective(0, (x) => d.generatorLoss(x), 'generator loss');
  assert.equal(first.applied, true);
  assert.ok(Number.isFinite(first.value) && first.gradNorm > 0);
  const once = params();
  assert.notDeepEqual(once, before);
  assert.equal(g.applyObjective(0, (x) => d.generatorLoss(x), 'generator loss').applied, false);
  assert.deepEqual(params(), once);
  g.dispose();
  d.dispose();
});

test('with a mixture prior in the arch, training and sampling draw z from it (each latent near one of its means)', () => {
  const mixed = cfg({ arch: ganArch('mlp', { zDim: 8, gWidth: 16, dWidth: 16, zMixture: 3, zSpread: 10 }) });
  const g = new GeneratorNode(mixed);
  const d = new DiscriminatorNode(mixed, data);
  const means = mixtureMeans(mixed.arch);
  const nearest = (z: number[]) => Math.min(...[0, 1, 2].map((k) => Math.hypot(...z.map((v, j) => v - means[k * 8 + j]))));
  for (const [t, s] of [[0, 0], [0, 1], [5, 0]]) {
    const z = g.latent(t, s);
    const rows = z.arraySync() as number[][];
    z.dispose();
    // Unit noise in 8 dimensions is ~2.8 from its mean; the means are ~40 apart at spread 10.
    rows.forEach((row, i) => assert.ok(nearest(row) < 8, `latent ${i} of step (${t}, ${s}) is ${nearest(row).toFixed(1)} from the nearest mean`));
  }
  ganIteration(g, d, 0);
  const images = g.sample(4, 1);
  assert.deepEqual(images.shape, [4, 28, 28, 1]);
  images.dispose();
  g.dispose();
  d.dispose();
});
