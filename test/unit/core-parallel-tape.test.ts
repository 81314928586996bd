// tape.ts: a segment's forward pass recorded once and back-propagated later (after awaits) gives
// the same gradients, bit for bit, as tfjs recomputing the forward pass under its own tape; it
// holds no tensor after use or disposal, and falls back to recomputing inside an open tape.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { buildClassifier, classifierArch } from '../../services/core/presets.ts';
import { disposeRecorded, recordForward, vjp } from '../../services/core/parallel/tape.ts';

before(async () => {
  await initBackend('wasm');
});

const bits = (t: tf.Tensor): Uint32Array => new Uint32Array(new Float32Array(t.dataSync()).buffer);

test('vjp of a recorded segment equals engine.gradients recomputing it, bit for bit, for every segment of the workshop classifier', async () => {
  const model = buildClassifier(classifierArch('workshop', {}), 7);
  const segments = model.segments!;
  let h: tf.Tensor = tf.randomNormal([6, 28, 28, 1], 0, 1, 'float32', 3);
  for (const seg of segments) {
    const rec = recordForward(() => seg.apply(h));
    assert.ok(rec.nodes && rec.nodes.length > 0, `segment ${seg.name}: its kernels were recorded`);
    await new Promise((r) => setImmediate(r)); // a collective's await between forward and backward
    const tidyNoise = tf.tidy(() => tf.square(tf.ones([3]))); // other work meanwhile: not recorded
    const dy = tf.randomNormal(rec.out.shape, 0, 1, 'float32', 11);
    const xs = [h, ...seg.params];
    const reference = tf.engine().gradients(() => seg.apply(h), xs, dy);
    const recomputed = bits(reference.value);
    assert.deepEqual(bits(rec.out), recomputed, `segment ${seg.name}: the same forward output`);
    const saved = rec.nodes.reduce((n, node) => n + (node.saved?.length ?? 0), 0);
    assert.ok(saved > 0);
    const before = tf.memory().numTensors;
    const got = vjp(rec, xs, dy);
    assert.equal(got.length, xs.length);
    got.forEach((g, i) => assert.deepEqual(bits(g), bits(reference.grads[i]), `segment ${seg.name}: gradient ${i} bit-identical`));
    // The backward pass releases the recording's saved tensors: only the gradients are new.
    assert.equal(tf.memory().numTensors, before + got.length - saved, `segment ${seg.name}: ${saved} saved tensors released`);
    assert.equal(rec.nodes, undefined, 'the recording is used up');
    const next = tf.clone(rec.out);
    tf.dispose([...got, ...reference.grads, reference.value, dy, tidyNoise]);
    disposeRecorded(rec);
    if (h !== next) h.dispose();
    h = next;
  }
  h.dispose();
  model.dispose();
});

test('a recording releases everything it holds: used, disposed unused, or after a throwing forward', () => {
  const w = tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 1));
  const x = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
  const start = tf.memory().numTensors;
  const f = () => tf.relu(tf.matMul(x, w));
  // used, then disposed
  const a = recordForward(f);
  const dy = tf.onesLike(a.out);
  const [gx, gw] = vjp(a, [x, w], dy);
  tf.dispose([gx, gw, dy]);
  disposeRecorded(a);
  assert.equal(tf.memory().numTensors, start, 'used, then disposed');
  // never used
  const b = recordForward(f);
  assert.ok(tf.memory().numTensors > start + 1, 'an unused recording holds its output and saved tensors');
  disposeRecorded(b);
  assert.equal(tf.memory().numTensors, start, 'disposed unused');
  // a forward that throws leaves nothing either, and the engine's tape is closed again
  assert.throws(() => recordForward(() => { tf.exp(tf.matMul(x, w)); throw new Error('boom'); }), /boom/);
  assert.equal(tf.memory().numTensors, start, 'a throwing forward');
  assert.equal(tf.engine().state.gradientDepth, 0);
  assert.ok(tf.engine().state.activeTape == null, 'the tape is closed');
  tf.dispose([w, x]);
});

test('inside an open tape (a caller under tf.grad) recording is skipped and vjp recomputes: same gradients', () => {
  const w = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
  const x = tf.tensor2d([[1, 2], [3, -4]]);
  const f = () => tf.tanh(tf.matMul(x, w));
  let nested: tf.Tensor[] = [];
  tf.grad((s: tf.Tensor) => {
    const rec = recordForward(f);
    assert.equal(rec.nodes, undefined, 'no recording inside an open tape');
    nested = vjp(rec, [x, w], tf.onesLike(rec.out)).map((g) => tf.keep(g));
    disposeRecorded(rec);
    return tf.sum(s);
  })(tf.scalar(1));
  const ref = tf.engine().gradients(f, [x, w], tf.onesLike(f()));
  nested.forEach((g, i) => assert.deepEqual(bits(g), bits(ref.grads[i])));
  tf.dispose([...nested, ...ref.grads, ref.value, w, x]);
});
