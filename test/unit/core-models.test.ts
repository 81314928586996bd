// Shapes of every preset, parameter naming, seeded initialisation, and Adam against a hand step.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import {
  GAN_PRESETS, buildClassifier, buildDiscriminator, buildGenerator, buildModelFromArch, classifierArch, ganArch,
} from '../../services/core/presets.ts';
import { INFER, TRAIN } from '../../services/core/model.ts';
import { Adam } from '../../services/core/optim.ts';

before(async () => {
  await tf.setBackend('cpu');
});

for (const preset of GAN_PRESETS) {
  test(`${preset}: G maps (B, zDim) to (B, 28, 28, 1) in [-1, 1]; D maps images to (B, 1)`, () => {
    const arch = ganArch(preset, { gWidth: 8, dWidth: 8 });
    const g = buildGenerator(arch, 1);
    const d = buildDiscriminator(arch, 2);
    tf.tidy(() => {
      const x = g.apply(tf.randomNormal([3, arch.zDim], 0, 1, 'float32', 3), TRAIN);
      assert.deepEqual(x.shape, [3, 28, 28, 1]);
      const v = x.dataSync();
      assert.ok(v.every((p) => p >= -1 && p <= 1));
      assert.deepEqual(d.apply(x, TRAIN).shape, [3, 1]);
    });
    const names = [...g.params, ...g.state].map((p) => p.name);
    assert.equal(new Set(names).size, names.length, 'parameter names are unique');
    g.dispose();
    d.dispose();
  });
}

test('the workshop infogan generator is z(62) -> 1024 -> 7*7*128 -> 64 -> 1', () => {
  const g = buildGenerator(ganArch('infogan'), 1);
  const shapes = Object.fromEntries(g.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['fc1/kernel'], [62, 1024]);
  assert.deepEqual(shapes['fc2/kernel'], [1024, 7 * 7 * 128]);
  assert.deepEqual(shapes['deconv3/kernel'], [4, 4, 64, 128]);
  assert.deepEqual(shapes['deconv4/kernel'], [4, 4, 1, 64]);
  g.dispose();
});

test('the workshop classifier: conv 64, conv 128 + BN, dense 1024 + BN, 10 logits; embed gives features', () => {
  const c = buildClassifier(classifierArch('workshop'), 1);
  const shapes = Object.fromEntries(c.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv1/kernel'], [4, 4, 1, 64]);
  assert.deepEqual(shapes['conv2/kernel'], [4, 4, 64, 128]);
  assert.deepEqual(shapes['fc3/kernel'], [7 * 7 * 128, 1024]);
  assert.deepEqual(shapes['out/kernel'], [1024, 10]);
  tf.tidy(() => {
    const { features, logits } = c.embed(tf.zeros([2, 28, 28, 1]), INFER);
    assert.deepEqual(features.shape, [2, 1024]);
    assert.deepEqual(logits.shape, [2, 10]);
  });
  c.dispose();
});

test('initialisation is a pure function of the seed; weights ~ N(0, 0.02) truncated', () => {
  const arch = ganArch('mlp', { gWidth: 16 });
  const [a, b, c] = [1, 1, 2].map((s) => buildGenerator(arch, s));
  const w = (m: typeof a) => m.params[0].variable.dataSync();
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
  const vals = Array.from(w(a));
  assert.ok(vals.every((v) => Math.abs(v) <= 0.04 + 1e-6), 'truncated at 2 stddev');
  const std = Math.sqrt(vals.reduce((s, v) => s + v * v, 0) / vals.length);
  assert.ok(std > 0.01 && std < 0.02, `stddev ${std}`);
  [a, b, c].forEach((m) => m.dispose());
});

test('dLayers 3 gives D a third conv (2w -> 4w, k3 s2, 7x7 -> 4x4) before its output; 2 is the default', () => {
  const arch = ganArch('dcgan', { gWidth: 8, dWidth: 8, dLayers: 3 });
  const d = buildDiscriminator(arch, 2);
  const shapes = Object.fromEntries(d.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv2b/kernel'], [3, 3, 16, 32]);
  assert.deepEqual(shapes['out/kernel'], [4 * 4 * 32, 1]);
  assert.deepEqual(d.state.map((s) => s.name).filter((n) => n.startsWith('bn2b/')), ['bn2b/moving_mean', 'bn2b/moving_variance']);
  tf.tidy(() => assert.deepEqual(d.apply(tf.zeros([3, 28, 28, 1]), TRAIN).shape, [3, 1]));
  d.dispose();
  const infogan = buildDiscriminator(ganArch('infogan', { dWidth: 8, dLayers: 3 }), 2);
  const names = infogan.params.map((p) => p.name);
  assert.ok(names.includes('conv2b/kernel') && names.includes('fc3/kernel'));
  assert.deepEqual(infogan.params.find((p) => p.name === 'fc3/kernel')?.variable.shape, [4 * 4 * 32, 16 * 8]);
  infogan.dispose();
  // A checkpoint written before dLayers existed has no such key: it is the two-layer D.
  const { dLayers: _omit, ...old } = ganArch('dcgan', { dWidth: 8 });
  const rebuilt = buildModelFromArch('discriminator', old);
  assert.ok(!rebuilt.params.some((p) => p.name.startsWith('conv2b')));
  rebuilt.dispose();
  assert.throws(() => ganArch('mlp', { dLayers: 3 }), /dLayers/);
  assert.throws(() => buildModelFromArch('discriminator', { ...old, dLayers: 6 }), /dLayers/);
});

test('dLayers 4 and 5 add one and two stride-1 3x3 convs (4w -> 4w) with batch norm at 4x4 after the third', () => {
  for (const [dLayers, extra] of [[3, 0], [4, 1], [5, 2]] as const) {
    const d = buildDiscriminator(ganArch('dcgan', { dWidth: 8, dLayers }), 2);
    const kernels = d.params.filter((p) => p.name.startsWith('conv2c')).map((p) => [p.name, p.variable.shape]);
    assert.deepEqual(kernels.filter(([n]) => String(n).endsWith('/kernel')),
      Array.from({ length: extra }, (_, i) => [`conv2c${i}/kernel`, [3, 3, 32, 32]]));
    assert.equal(d.state.filter((s) => s.name.startsWith('bn2c')).length, 2 * extra);
    assert.deepEqual(d.params.find((p) => p.name === 'out/kernel')?.variable.shape, [4 * 4 * 32, 1]);
    tf.tidy(() => assert.deepEqual(d.apply(tf.randomNormal([3, 28, 28, 1], 0, 1, 'float32', 5), TRAIN).shape, [3, 1]));
    d.dispose();
  }
});

test('gLayers 3 gives G a 5x5 stride-1 conv (2w -> 2w) with batch norm at 7x7 before its deconvs', () => {
  const arch = ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 3 });
  const g = buildGenerator(arch, 1);
  const shapes = Object.fromEntries(g.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv2b/kernel'], [5, 5, 16, 16]);
  assert.deepEqual(shapes['bn2b/gamma'], [16]);
  assert.deepEqual(shapes['deconv3/kernel'], [4, 4, 8, 16]);
  tf.tidy(() => assert.deepEqual(g.apply(tf.randomNormal([3, 4], 0, 1, 'float32', 1), TRAIN).shape, [3, 28, 28, 1]));
  g.dispose();
  const { gLayers: _omit, ...old } = ganArch('dcgan', { gWidth: 8 });
  const rebuilt = buildModelFromArch('generator', old);
  assert.ok(!rebuilt.params.some((p) => p.name.startsWith('conv2b')), 'an arch without gLayers is the two-layer G');
  rebuilt.dispose();
  assert.throws(() => ganArch('mlp', { gLayers: 3 }), /gLayers/);
});

test('gLayers 4 adds a 3x3 stride-1 conv (w -> w) with batch norm at 14x14 between the deconvs; gLayers 3 has none', () => {
  const g = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 4 }), 1);
  const shapes = Object.fromEntries(g.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv2b/kernel'], [5, 5, 16, 16], 'the 7x7 conv of gLayers 3 as well');
  assert.deepEqual(shapes['conv3b/kernel'], [3, 3, 8, 8]);
  assert.deepEqual(shapes['bn3b/gamma'], [8]);
  assert.deepEqual(shapes['deconv4/kernel'], [4, 4, 1, 8]);
  assert.equal(g.state.filter((s) => s.name.startsWith('bn3b/')).length, 2, 'moving mean and variance');
  tf.tidy(() => assert.deepEqual(g.apply(tf.randomNormal([3, 4], 0, 1, 'float32', 1), TRAIN).shape, [3, 28, 28, 1]));
  g.dispose();
  const three = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 3 }), 1);
  assert.ok(!three.params.some((p) => p.name.startsWith('conv3b')));
  three.dispose();
  assert.ok(!g.params.some((p) => p.name.startsWith('conv3c')), 'one conv at 14x14 with gLayers 4');
  assert.throws(() => ganArch('mlp', { gLayers: 4 }), /gLayers/);
});

test('gLayers 5 has two 3x3 convs at 14x14 (conv3b, conv3c); gLayers 4 G keeps its weights and order', () => {
  const five = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 5 }), 1);
  const four = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 4 }), 1);
  const shapes = Object.fromEntries(five.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv3b/kernel'], [3, 3, 8, 8]);
  assert.deepEqual(shapes['conv3c/kernel'], [3, 3, 8, 8]);
  assert.deepEqual(shapes['bn3c/beta'], [8]);
  assert.equal(five.params.length, four.params.length + 4, 'a kernel, a bias, gamma and beta more');
  assert.equal(five.state.length, four.state.length + 2);
  // Checkpoints of gLayers 4 runs name and initialise the same parameters as before conv3c existed.
  const names4 = four.params.map((p) => p.name);
  assert.deepEqual(names4.slice(0, names4.indexOf('bn3b/beta') + 1), five.params.map((p) => p.name).slice(0, names4.indexOf('bn3b/beta') + 1));
  assert.deepEqual(Array.from(four.params[0].variable.dataSync()), Array.from(five.params[0].variable.dataSync()));
  tf.tidy(() => assert.deepEqual(five.apply(tf.randomNormal([2, 4], 0, 1, 'float32', 1), TRAIN).shape, [2, 28, 28, 1]));
  five.dispose();
  four.dispose();
});

test('gLayers 6: the last deconv makes w/2 maps at 28x28 (batch norm) and a 3x3 conv the image; 7 is refused', () => {
  const six = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 6 }), 1);
  const shapes = Object.fromEntries(six.params.map((p) => [p.name, p.variable.shape]));
  assert.deepEqual(shapes['conv3c/kernel'], [3, 3, 8, 8], 'both 14x14 convs of gLayers 5');
  assert.deepEqual(shapes['deconv4/kernel'], [4, 4, 4, 8], 'w/2 output maps');
  assert.deepEqual(shapes['bn4/gamma'], [4]);
  assert.deepEqual(shapes['conv5/kernel'], [3, 3, 4, 1]);
  const x = tf.tidy(() => six.apply(tf.randomNormal([2, 4], 0, 1, 'float32', 1), TRAIN));
  assert.deepEqual(x.shape, [2, 28, 28, 1]);
  const v = x.dataSync();
  assert.ok(v.every((p) => p >= -1 && p <= 1) && new Set(v).size > 100, 'tanh images, not constant');
  x.dispose();
  six.dispose();
  assert.throws(() => ganArch('dcgan', { gLayers: 7 }), /gLayers/);
});

test('gKernel 3 makes that 7x7 conv 3x3; an arch without gKernel (older checkpoints) keeps 5x5; it needs gLayers 3', () => {
  const g = buildGenerator(ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 3, gKernel: 3 }), 1);
  assert.deepEqual(g.params.find((p) => p.name === 'conv2b/kernel')?.variable.shape, [3, 3, 16, 16]);
  tf.tidy(() => assert.deepEqual(g.apply(tf.randomNormal([2, 4], 0, 1, 'float32', 1), TRAIN).shape, [2, 28, 28, 1]));
  g.dispose();
  const { gKernel: _omit, ...old } = ganArch('dcgan', { zDim: 4, gWidth: 8, gLayers: 3 });
  const rebuilt = buildModelFromArch('generator', old);
  assert.deepEqual(rebuilt.params.find((p) => p.name === 'conv2b/kernel')?.variable.shape, [5, 5, 16, 16]);
  rebuilt.dispose();
  assert.throws(() => ganArch('dcgan', { gKernel: 3 }), /gKernel sizes the third generator conv layer: it needs gLayers 3/);
  assert.throws(() => ganArch('dcgan', { gLayers: 3, gKernel: 4 as 3 }), /gKernel/);
});

test('buildModelFromArch rebuilds the same architecture and rejects a bad arch', () => {
  const arch = ganArch('dcgan', { gWidth: 8 });
  const g = buildModelFromArch('generator', arch);
  assert.deepEqual(g.outputShape, [28, 28, 1]);
  g.dispose();
  assert.throws(() => buildModelFromArch('generator', { ...arch, zDim: -1 }), /zDim/);
});

test('Adam: one step equals the hand computation; decay is lr * 0.75^(t/1100)', () => {
  const v = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Adam([{ name: 'w', variable: v }], { lr: 0.1, beta1: 0.5, beta2: 0.999, epsilon: 1e-8, decayRate: 0.75, decaySteps: 1100 });
  const g = tf.tensor1d([0.5, 4]);
  opt.apply([g]);
  // t = 1: m = 0.5 g, v = 0.001 g^2, mhat = g, vhat = g^2: p -= lr * g / (|g| + eps) = lr * sign(g)
  const lr0 = 0.1; // 0.75^(0/1100) = 1
  const out = v.dataSync();
  assert.ok(Math.abs(out[0] - (1 - lr0)) < 1e-6 && Math.abs(out[1] - (-2 - lr0)) < 1e-6, `${out}`);
  assert.equal(opt.step, 1);
  assert.ok(Math.abs(opt.learningRate(1100) - 0.075) < 1e-12);
  tf.dispose([v, g]);
  opt.dispose();
});
