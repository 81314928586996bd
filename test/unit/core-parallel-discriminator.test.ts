// Data-parallel discriminator replicas (services/core/parallel/discriminator-step.ts) against the
// one-process DiscriminatorNode on the whole batch: the D-step and the G-step's dL_G/dfake.
// Tolerances as in core-parallel-classifier.test.ts (its header gives the measurements): 1e-5 for
// what is linear in the gradients (Adam's slots after one update, moving statistics, losses, the
// G-step's gradient), one-hundredth of a learning-rate step for weights after one update, and the
// measured float32 floor for 20 steps. A bias right before a batch norm is round-off on both sides.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { ganArch, type GanArchOverrides, type GanPreset } from '../../services/core/presets.ts';
import { DiscriminatorNode } from '../../services/core/gan/discriminator-node.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';
import { replicaDiscriminatorStep, replicaGeneratorGrad } from '../../services/core/parallel/discriminator-step.ts';
import { localReplicaGroups } from '../../services/core/parallel/local-group.ts';
import { ReplicaUnsupportedError } from '../../services/core/parallel/errors.ts';
import { NonFiniteError, ShapeError } from '../../services/core/errors.ts';
import { compareArrays } from '../../services/run/diff.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { diffsAbove, sliceOf, stateOf, worstDiff } from './parallel-fixtures.ts';

let data: ImageSet;
before(async () => {
  await initBackend('wasm');
  data = await loadImageSet({ split: 'test' });
});

const B = 24;
const cfg = (preset: GanPreset, over: Partial<GanMathConfig> = {}, arch: GanArchOverrides = {}): GanMathConfig => ({
  arch: ganArch(preset, { zDim: 8, gWidth: 8, dWidth: 8, ...arch }), loss: 'nonsaturating', batchSize: B, dSteps: 1,
  seed: 5, lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0, ...over,
});
/** Biases feeding a batch norm (gradient 0 in exact arithmetic) and their Adam slots. */
const inert = (name: string) => /^(conv2|conv2b|conv2c\d|fc3)\/bias(\/m|\/v)?$/.test(name);
const without = (m: Map<string, Float32Array>, drop: (k: string) => boolean) => new Map([...m].filter(([k]) => !drop(k)));

/** A fake batch in [-1, 1] (B, 28, 28, 1), seeded. */
const fakeBatch = (t: number) => tf.tidy(() => tf.tanh(tf.randomNormal([B, 28, 28, 1], 0, 1, 'float32', 1000 + t))) as tf.Tensor4D;

interface Pair { ref: DiscriminatorNode; nodes: DiscriminatorNode[]; n: number }

function pair(c: GanMathConfig, n: number): Pair {
  return { ref: new DiscriminatorNode(c, data), nodes: Array.from({ length: n }, () => new DiscriminatorNode(c, data)), n };
}

function dispose(p: Pair): void {
  [p.ref, ...p.nodes].forEach((d) => d.dispose());
}

/** D-step t on the one process and on the replicas (same real and fake batch); returns both metrics. */
async function dStep(p: Pair, t: number, groups = localReplicaGroups(p.n)) {
  const real = p.ref.realBatch(t, 0);
  const fake = fakeBatch(t);
  const one = p.ref.trainStep(t, 0, real, fake);
  const parts = groups.map((g) => ({ real: sliceOf(real, g.rank, p.n), fake: sliceOf(fake, g.rank, p.n) }));
  const reps = await Promise.all(groups.map((g, k) => replicaDiscriminatorStep(p.nodes[k], parts[k].real, parts[k].fake, g, B, t)));
  tf.dispose([real, fake, ...parts.flatMap((x) => [x.real, x.fake])]);
  return { one, reps };
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-6);

for (const [preset, arch, n] of [['dcgan', {}, 2], ['dcgan', {}, 3], ['dcgan', { dLayers: 4 }, 2], ['infogan', { dLayers: 3 }, 3], ['mlp', {}, 2]] as const) {
  test(`${preset} D ${JSON.stringify(arch)}, N = ${n}: one D-step gives the one-process metrics, moving statistics and Adam slots within 1e-5`, async () => {
    const p = pair(cfg(preset, {}, arch), n);
    const { one, reps } = await dStep(p, 0);
    for (const r of reps) {
      assert.ok(close(r.lossD, one.lossD, 1e-6) && close(r.dReal, one.dReal, 1e-6) && close(r.dFake, one.dFake, 1e-6),
        `metrics ${JSON.stringify(r)} vs ${JSON.stringify(one)}`);
    }
    const a = without(stateOf(p.ref.model, p.ref.optimizer), inert);
    const b = without(stateOf(p.nodes[0].model, p.nodes[0].optimizer), inert);
    const weights = new Set(p.ref.model.params.map((x) => x.name));
    // D's output bias gets mean(-s(-r)) + mean(s(f)), two terms near 0.5 that nearly cancel at
    // initialisation: its round-off is relative to the terms, not to their small difference.
    const cancelling = (k: string) => k.startsWith('out/bias/');
    assert.deepEqual(diffsAbove(without(a, (k) => weights.has(k) || cancelling(k)), without(b, (k) => weights.has(k) || cancelling(k)), 1e-5), []);
    const m = compareArrays(a.get('out/bias/m')!, b.get('out/bias/m')!).maxAbsDiff; // m = (1 - beta1) g = 0.5 g
    assert.ok(m <= 0.5 * 1e-6, `out/bias gradient differs by ${m / 0.5}, more than 1e-6 of its O(1) terms`);
    assert.deepEqual(diffsAbove(a, b, 1e-3), []);
    for (const d of p.nodes) assert.equal(worstDiff(stateOf(d.model, d.optimizer), stateOf(p.nodes[0].model, p.nodes[0].optimizer)).rel, 0);
    dispose(p);
  });
}

for (const n of [2, 3]) {
  test(`dcgan D, N = ${n}, 20 D-steps: the same losses, ranks bit-identical, state at the float32 floor, no leaks`, async () => {
    const p = pair(cfg('dcgan'), n);
    const groups = localReplicaGroups(n);
    let at3 = 0;
    for (let t = 0; t < 20; t++) {
      const { one, reps } = await dStep(p, t, groups);
      for (const r of reps) assert.ok(close(r.lossD, one.lossD, 1e-5), `iteration ${t}: L_D ${r.lossD} vs ${one.lossD}`);
      if (t === 2) at3 = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, at3);
    const states = p.nodes.map((d) => stateOf(d.model, d.optimizer));
    for (const s of states) assert.equal(worstDiff(states[0], s).rel, 0);
    const drop = (k: string) => inert(k) || k === 'bn2/moving_mean'; // bn2's mean follows the inert conv2/bias
    assert.deepEqual(diffsAbove(without(stateOf(p.ref.model, p.ref.optimizer), drop), without(states[0], drop), 5e-2), []);
    dispose(p);
  });
}

for (const [preset, n] of [['dcgan', 2], ['dcgan', 3], ['mlp', 3]] as const) {
  test(`${preset} D, N = ${n}: the G-step's gradient slices, concatenated, are the one-process dL_G/dfake; D is not changed`, async () => {
    const p = pair(cfg(preset), n);
    const groups = localReplicaGroups(n);
    for (let t = 0; t < 2; t++) await dStep(p, t, groups); // trained a little: moving statistics are not the init
    const before = stateOf(p.nodes[0].model, p.nodes[0].optimizer);
    const fake = fakeBatch(50);
    const one = p.ref.generatorGrad(2, fake);
    const parts = groups.map((g) => sliceOf(fake, g.rank, n));
    const tensors = tf.memory().numTensors;
    const reps = await Promise.all(groups.map((g, k) => replicaGeneratorGrad(p.nodes[k], parts[k], g, B, 2)));
    assert.equal(tf.memory().numTensors, tensors + n, 'only the n gradient slices are left');
    const joined = tf.concat(reps.map((r) => r.grad));
    const { maxRelDiff } = compareArrays(one.grad.dataSync() as Float32Array, joined.dataSync() as Float32Array);
    assert.ok(maxRelDiff <= 1e-5, `dL_G/dfake relative difference ${maxRelDiff}`);
    for (const r of reps) assert.ok(close(r.lossG, one.lossG, 1e-6) && close(r.dFake, one.dFake, 1e-6), `${r.lossG} ${r.dFake} vs ${one.lossG} ${one.dFake}`);
    assert.equal(worstDiff(before, stateOf(p.nodes[0].model, p.nodes[0].optimizer)).rel, 0, 'no update, no statistics');
    tf.dispose([fake, one.grad, joined, ...parts, ...reps.map((r) => r.grad)]);
    dispose(p);
  });
}

test('per-replica batch norm: runs, ranks identical, NOT the one-process D-step', async () => {
  const p = pair(cfg('dcgan'), 2);
  const { one, reps } = await dStep(p, 0, localReplicaGroups(2, { syncBatchNorm: false }));
  assert.equal(reps[0].lossD, reps[1].lossD);
  assert.equal(worstDiff(stateOf(p.nodes[0].model, p.nodes[0].optimizer), stateOf(p.nodes[1].model, p.nodes[1].optimizer)).rel, 0);
  const a = stateOf(p.ref.model, p.ref.optimizer);
  const b = stateOf(p.nodes[0].model, p.nodes[0].optimizer);
  assert.ok(!close(reps[0].lossD, one.lossD, 1e-4) || worstDiff(without(a, inert), without(b, inert)).rel > 1e-2,
    'per-replica statistics should differ from the group statistics');
  const slot = compareArrays(a.get('conv1/kernel/m')!, b.get('conv1/kernel/m')!).maxRelDiff;
  assert.ok(slot > 1e-3, `conv1 gradient moment differs: ${slot}`);
  dispose(p);
});

for (const n of [2, 3]) {
  test(`wgan-gp on the mlp D (no batch norm), N = ${n}: L_D, the penalty and Adam slots within 1e-5 over 3 D-steps`, async () => {
    const p = pair(cfg('mlp', { loss: 'wgan-gp' }), n);
    const groups = localReplicaGroups(n);
    for (let t = 0; t < 3; t++) {
      const { one, reps } = await dStep(p, t, groups);
      for (const r of reps) {
        assert.ok(r.gp !== undefined && one.gp !== undefined && close(r.gp, one.gp, 1e-5), `gp ${r.gp} vs ${one.gp}`);
        assert.ok(close(r.lossD, one.lossD, 1e-5), `L_D ${r.lossD} vs ${one.lossD}`);
      }
    }
    const a = stateOf(p.ref.model, p.ref.optimizer);
    const b = stateOf(p.nodes[0].model, p.nodes[0].optimizer);
    const weights = new Set(p.ref.model.params.map((x) => x.name));
    assert.deepEqual(diffsAbove(without(a, (k) => weights.has(k) || k.startsWith('out/bias/')), without(b, (k) => weights.has(k) || k.startsWith('out/bias/')), 1e-5), []);
    assert.deepEqual(diffsAbove(a, b, 1e-3), []);
    for (const d of p.nodes) assert.equal(worstDiff(stateOf(d.model, d.optimizer), b).rel, 0);
    dispose(p);
  });
}

test('wgan-gp with replicas of a D with batch norm is refused with ReplicaUnsupportedError naming the option; nothing changes', async () => {
  const p = pair(cfg('dcgan', { loss: 'wgan-gp' }), 2);
  const before = stateOf(p.nodes[0].model, p.nodes[0].optimizer);
  const groups = localReplicaGroups(2);
  const x = tf.zeros([12, 28, 28, 1]) as tf.Tensor4D;
  await assert.rejects(replicaDiscriminatorStep(p.nodes[0], x, x, groups[0], B, 0),
    (e: unknown) => e instanceof ReplicaUnsupportedError && e.option === 'loss' && e.value === 'wgan-gp');
  assert.equal(worstDiff(before, stateOf(p.nodes[0].model, p.nodes[0].optimizer)).rel, 0);
  x.dispose();
  dispose(p);
});

test('a NaN real slice: NonFiniteError on every rank, D unchanged', async () => {
  const p = pair(cfg('dcgan'), 2);
  const before = stateOf(p.nodes[0].model, p.nodes[0].optimizer);
  const groups = localReplicaGroups(2);
  const nan = tf.fill([12, 28, 28, 1], NaN) as tf.Tensor4D;
  const ok = tf.zeros([12, 28, 28, 1]) as tf.Tensor4D;
  const rs = await Promise.allSettled(groups.map((g, k) => replicaDiscriminatorStep(p.nodes[k], k === 0 ? nan : ok, ok, g, B, 4)));
  for (const r of rs) assert.ok(r.status === 'rejected' && r.reason instanceof NonFiniteError && r.reason.iteration === 4);
  assert.equal(worstDiff(before, stateOf(p.nodes[0].model, p.nodes[0].optimizer)).rel, 0);
  tf.dispose([nan, ok]);
  dispose(p);
});

test('a slice of the wrong image shape is a ShapeError naming the field', async () => {
  const p = pair(cfg('dcgan'), 2);
  const [g] = localReplicaGroups(2);
  const bad = tf.zeros([12, 28, 27, 1]) as tf.Tensor4D;
  await assert.rejects(replicaGeneratorGrad(p.nodes[0], bad, g, B, 0), (e: unknown) => e instanceof ShapeError && e.field === 'fake');
  bad.dispose();
  dispose(p);
});

test('the collectives: real and fake in lockstep (one per batch-norm sum for both), then one fused buffer; the G-step ends with its metrics', async () => {
  const seen: { tag: string; length: number }[] = [];
  const groups = localReplicaGroups(2, { onSum: (tag, length) => seen.push({ tag, length }) });
  const p = pair(cfg('dcgan'), 2);
  await dStep(p, 0, groups);
  const channels = 2 * 8; // bn2 of dWidth 8
  const params = p.ref.model.params.reduce((n, x) => n + x.variable.size, 0);
  assert.deepEqual(seen, [
    { tag: 'real+fake/bn2/sum', length: 2 * channels }, { tag: 'real+fake/bn2/sumsq', length: 2 * channels },
    { tag: 'real+fake/bn2/grad', length: 4 * channels }, { tag: 'grads', length: params + 4 },
  ]);
  seen.length = 0;
  const fake = fakeBatch(1);
  const parts = groups.map((g) => sliceOf(fake, g.rank, 2));
  const reps = await Promise.all(groups.map((g, k) => replicaGeneratorGrad(p.nodes[k], parts[k], g, B, 1)));
  assert.deepEqual(seen.map((s) => s.tag), ['fake/bn2/sum', 'fake/bn2/sumsq', 'fake/bn2/grad', 'gen/metrics']);
  tf.dispose([fake, ...parts, ...reps.map((r) => r.grad)]);
  dispose(p);
});

test('exact sums (microBatches 6): dcgan D with N = 1, 2, 3: 20 D-steps and the G-step gradient bit-identical, the inert biases included', async () => {
  const c = cfg('dcgan', { microBatches: 6 });
  const finals: Map<string, Float32Array>[] = [];
  const gens: Float32Array[] = [];
  const losses: number[][] = [];
  for (const n of [1, 2, 3]) {
    const nodes = Array.from({ length: n }, () => new DiscriminatorNode(c, data));
    const groups = localReplicaGroups(n);
    const mine: number[] = [];
    for (let t = 0; t < 20; t++) {
      const real = nodes[0].realBatch(t, 0);
      const fake = fakeBatch(t);
      const parts = groups.map((g) => ({ real: sliceOf(real, g.rank, n), fake: sliceOf(fake, g.rank, n) }));
      const reps = await Promise.all(groups.map((g, k) => nodes[k].replicaTrainStep(t, 0, parts[k].real, parts[k].fake, g)));
      tf.dispose([real, fake, ...parts.flatMap((x) => [x.real, x.fake])]);
      for (const r of reps) assert.equal(r.lossD, reps[0].lossD);
      mine.push(reps[0].lossD);
    }
    const fake = fakeBatch(50);
    const parts = groups.map((g) => sliceOf(fake, g.rank, n));
    const reps = await Promise.all(groups.map((g, k) => nodes[k].replicaGeneratorGrad(20, parts[k], g)));
    const joined = tf.concat(reps.map((r) => r.grad));
    gens.push(Float32Array.from(joined.dataSync()));
    tf.dispose([fake, joined, ...parts, ...reps.map((r) => r.grad)]);
    const states = nodes.map((d) => stateOf(d.model, d.optimizer));
    for (const s of states) assert.equal(worstDiff(states[0], s).rel, 0, `N = ${n}: ranks bit-identical`);
    finals.push(states[0]);
    losses.push(mine);
    nodes.forEach((d) => d.dispose());
  }
  for (const k of [1, 2]) {
    assert.deepEqual(losses[k], losses[0], `N = ${k + 1}: the same L_D at every step, bit for bit`);
    for (const [name, v] of finals[0]) assert.deepEqual(finals[k].get(name), v, `N = ${k + 1}: ${name} bit-identical to N = 1`);
    assert.deepEqual(gens[k], gens[0], `N = ${k + 1}: dL_G/dfake bit-identical to N = 1`);
  }
  assert.ok(losses[0][19] !== losses[0][0], 'D trained');
});

test('exact sums: a lone discriminator steps on its group of one; wgan-gp is refused naming the option', async () => {
  const d = new DiscriminatorNode(cfg('dcgan', { microBatches: 4 }), data);
  assert.ok(d.soloGroup && d.soloGroup.size === 1);
  assert.equal(new DiscriminatorNode(cfg('dcgan'), data).soloGroup, undefined);
  const gp = new DiscriminatorNode(cfg('mlp', { microBatches: 4, loss: 'wgan-gp' }), data);
  const real = gp.realBatch(0, 0);
  const fake = fakeBatch(0);
  await assert.rejects(gp.replicaTrainStep(0, 0, real, fake, gp.soloGroup!), (e: unknown) => e instanceof ReplicaUnsupportedError && /exact sums/.test((e as Error).message));
  tf.dispose([real, fake]);
  [d, gp].forEach((x) => x.dispose());
});
