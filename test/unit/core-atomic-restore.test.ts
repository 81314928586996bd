// restoreModel, Adam.loadSlots and the nodes' restore are all or nothing: for every way a snapshot
// can be wrong (an extra or missing tensor or slot, the last tensor renamed, reshaped or holding a
// NaN, another role, a bad step or ledger) the load is rejected and the whole state (weights,
// batch-norm statistics, Adam slots, optimizer step, lastApplied) is bit for bit what it was. The
// bad snapshots come from a node with other weights, so any partial assignment would show.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { ganArch } from '../../services/core/presets.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import { DiscriminatorNode } from '../../services/core/gan/discriminator-node.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';
import { SnapshotMismatchError } from '../../services/core/errors.ts';
import { Adam, allFinite } from '../../services/core/optim.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import type { ModelSnapshot } from '../../services/run/model-snapshot.ts';
import { stateHash } from '../harness/state-hash.ts';

let data: ImageSet;
before(async () => {
  await tf.setBackend('cpu');
  data = await loadImageSet({ split: 'test' });
});

// dcgan: batch norm in both networks, so moving statistics are part of the state; G keeps a
// moving average of its weights, so "<param>/ema" slots are too.
const cfg = (seed: number): GanMathConfig => ({
  arch: ganArch('dcgan', { zDim: 8, gWidth: 8, dWidth: 8 }), loss: 'nonsaturating', batchSize: 4, dSteps: 1,
  seed, lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0.9,
});

const copy = (s: ModelSnapshot): ModelSnapshot => structuredClone(s);
const last = <T>(a: T[]): T => a[a.length - 1];

/** Every way a snapshot can be wrong, each built from a valid snapshot `s` of another node. */
function corruptions(s: ModelSnapshot): [string, ModelSnapshot, RegExp][] {
  const c = (edit: (x: ModelSnapshot) => void): ModelSnapshot => {
    const x = copy(s);
    edit(x);
    return x;
  };
  const lastName = last(s.tensors).name;
  return [
    ['extra tensor', c((x) => x.tensors.push({ name: 'extra/kernel', shape: [2], data: new Float32Array(2) })), /tensors the model lacks: extra\/kernel/],
    ['missing tensor', c((x) => x.tensors.pop()), new RegExp(`${lastName} is missing`)],
    ['extra slot', c((x) => x.optimizer.slots.push({ ...last(x.optimizer.slots), name: 'extra/m' })), /extra\/m are not this optimizer's/],
    ['missing slot', c((x) => x.optimizer.slots.pop()), /optimizer slot .* is missing/],
    ['renamed last tensor', c((x) => { last(x.tensors).name = `${lastName}_renamed`; }), /lacks: .*_renamed/],
    ['reshaped last tensor', c((x) => { const t = last(x.tensors); t.shape = [1, ...t.shape]; }), /expected shape/],
    ['NaN in the last tensor', c((x) => { const t = last(x.tensors); t.data[t.data.length - 1] = Number.NaN; }), /expected finite values, found NaN/],
    ['Inf in the last slot', c((x) => { last(x.optimizer.slots).data[0] = Number.POSITIVE_INFINITY; }), /expected finite values, found Infinity/],
    ['short last tensor', c((x) => { const t = last(x.tensors); t.data = t.data.subarray(1); }), /expected \d+ values/],
    ['duplicate tensor', c((x) => { x.tensors[0] = { ...x.tensors[1] }; }), /twice|is missing/],
    ['negative optimizer step', c((x) => { x.optimizer.step = -1; }), /optimizer step -1/],
    ['wrong role', c((x) => { x.role = x.role === 'generator' ? 'discriminator' : 'generator'; }), /snapshot is of a/],
  ];
}

function trainedGenerator(seed: number, iterations: number): GeneratorNode {
  const g = new GeneratorNode(cfg(seed));
  for (let t = 0; t < iterations; t++) {
    const up = tf.randomNormal([4, 28, 28, 1], 0, 0.01, 'float32', seed + t) as tf.Tensor4D;
    g.applyUpstream(t, up);
    up.dispose();
  }
  return g;
}

function trainedDiscriminator(seed: number, iterations: number): DiscriminatorNode {
  const d = new DiscriminatorNode(cfg(seed), data);
  const g = new GeneratorNode(cfg(seed));
  for (let t = 0; t < iterations; t++) {
    const [real, fake] = [d.realBatch(t, 0), g.generate(t, 0)];
    d.trainStep(t, 0, real, fake);
    tf.dispose([real, fake]);
  }
  g.dispose();
  return d;
}

test('GeneratorNode.restore rejects each bad snapshot and changes nothing', () => {
  const g = trainedGenerator(1, 2);
  const other = trainedGenerator(2, 3);
  try {
    const before = stateHash(g);
    for (const [what, snap, message] of corruptions(other.snapshot())) {
      assert.throws(() => g.restore(snap, 7), (err: unknown) => {
        assert.ok(err instanceof SnapshotMismatchError, `${what}: ${String(err)}`);
        assert.match(err.message, message, what);
        return true;
      }, what);
      assert.equal(stateHash(g), before, `${what}: the state changed`);
    }
    assert.throws(() => g.restore(other.snapshot(), -2), /lastAppliedIteration -2/);
    assert.throws(() => g.restore(other.snapshot(), 0.5), /lastAppliedIteration 0.5/);
    assert.equal(stateHash(g), before);
    // The valid snapshot loads whole: state and ledger become the other node's.
    g.restore(other.snapshot(), other.lastAppliedIteration);
    assert.equal(stateHash(g), stateHash(other));
  } finally {
    g.dispose();
    other.dispose();
  }
});

test('DiscriminatorNode.restore rejects each bad snapshot and changes nothing', () => {
  const d = trainedDiscriminator(1, 2);
  const other = trainedDiscriminator(2, 3);
  try {
    const before = stateHash(d);
    assert.ok(d.snapshot().tensors.some((t) => t.name.includes('moving')), 'batch-norm statistics are part of the state');
    for (const [what, snap, message] of corruptions(other.snapshot())) {
      assert.throws(() => d.restore(snap, { iteration: 9, step: 0 }), (err: unknown) => {
        assert.ok(err instanceof SnapshotMismatchError, `${what}: ${String(err)}`);
        assert.match(err.message, message, what);
        return true;
      }, what);
      assert.equal(stateHash(d), before, `${what}: the state changed`);
    }
    assert.throws(() => d.restore(other.snapshot(), { iteration: 3, step: -5 }), /lastApplied.step -5/);
    assert.equal(stateHash(d), before);
    d.restore(other.snapshot(), other.lastApplied);
    assert.equal(stateHash(d), stateHash(other));
  } finally {
    d.dispose();
    other.dispose();
  }
});

test('Adam.loadSlots checks every slot before assigning any', () => {
  const w = tf.variable(tf.tensor1d([1, 2]));
  const adam = new Adam([{ name: 'w', variable: w }], { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 });
  try {
    const good = { shape: [2], data: Float32Array.of(5, 6) };
    adam.loadSlots(3, new Map([['w/m', good], ['w/v', good]]));
    const values = () => adam.slotTensors().map((s) => Array.from(s.variable.dataSync()));
    const before = values();
    const bad = { shape: [2], data: Float32Array.of(7, Number.NaN) };
    assert.throws(() => adam.loadSlots(9, new Map([['w/m', { shape: [2], data: Float32Array.of(8, 8) }], ['w/v', bad]])), /w\/v: expected finite values, found NaN at index 1/);
    assert.throws(() => adam.loadSlots(9, new Map([['w/m', { shape: [2], data: Float32Array.of(8, 8) }], ['w/v', good], ['u/m', good]])), /u\/m are not this optimizer's/);
    assert.throws(() => adam.loadSlots(Number.NaN, new Map([['w/m', good], ['w/v', good]])), /optimizer step NaN/);
    assert.deepEqual(values(), before);
    assert.equal(adam.step, 3);
  } finally {
    adam.dispose();
    w.dispose();
  }
});

test('allFinite (the gradient check before every update) finds one NaN or Inf among many tensors', () => {
  const ok = [tf.ones([3, 4]), tf.fill([1000], 3e38)];
  const bad = [tf.ones([3, 4]), tf.tensor1d([0, 1, Number.NaN]), tf.tensor1d([Number.NEGATIVE_INFINITY])];
  try {
    assert.equal(allFinite(ok), true);
    assert.equal(allFinite(bad.slice(0, 2)), false);
    assert.equal(allFinite([bad[0], bad[2]]), false);
    assert.equal(allFinite([]), true);
  } finally {
    tf.dispose([...ok, ...bad]);
  }
});
