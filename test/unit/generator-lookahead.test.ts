// G(z') computed ahead by the generator service: scheduled only after the last D-step's batch,
// bit for bit the batch the G-step would compute, and never used with other weights (an applied
// G-step, a restored node) or for another iteration; no tensors leak.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tf } from '../../services/core/tf.ts';
import { ganArch } from '../../services/core/presets.ts';
import { GeneratorNode } from '../../services/core/gan/generator-node.ts';
import type { GanMathConfig } from '../../services/core/gan/config.ts';
import { Lookahead } from '../../services/generator/lookahead.ts';

const cfg: GanMathConfig = {
  arch: ganArch('mlp', { zDim: 8, gWidth: 16, dWidth: 16 }), loss: 'nonsaturating', batchSize: 4, dSteps: 2,
  seed: 5, lrG: 1e-3, lrD: 1e-3, beta1: 0.5, beta2: 0.999, lrDecay: false, gpLambda: 10, gEma: 0,
};
let node: GeneratorNode;
let current: GeneratorNode | undefined;
let lookahead: Lookahead;

before(async () => {
  await tf.setBackend('cpu');
  node = new GeneratorNode(cfg);
  current = node;
  lookahead = new Lookahead(() => current, 1);
});
after(() => {
  lookahead.clear();
  node.dispose();
});

const values = (x: tf.Tensor): Float32Array => {
  const v = Float32Array.from(x.dataSync() as Float32Array);
  x.dispose();
  return v;
};

/** Serves G(z) for D-step (t, s) through the wrapped node, as the gRPC service does. */
function serveDStep(t: number, s: number): void {
  lookahead.wrap(node).generate(t, s).dispose();
}

it('computes G(z\') ahead after the last D-step, equal to generate(t, k), and hands it over once', async () => {
  const expected = values(node.generate(0, 2));
  serveDStep(0, 0);
  await sleep(20);
  const before = tf.memory().numTensors;
  serveDStep(0, 1); // s = k - 1
  await sleep(20);
  assert.equal(tf.memory().numTensors, before + 1, 'one batch held ahead');
  const fake = lookahead.take(node, 0);
  assert.equal(tf.memory().numTensors, before + 1, 'taken, not recomputed');
  assert.deepEqual(values(fake), expected);
  assert.equal(tf.memory().numTensors, before);
});

it('recomputes when the weights changed, the node was replaced, or the iteration differs', async () => {
  serveDStep(0, 1);
  await sleep(20);
  node.lastAppliedIteration = 0; // as after an applied G-step: other weights
  const before = tf.memory().numTensors;
  const stale = lookahead.take(node, 0);
  assert.equal(tf.memory().numTensors, before, 'the stale batch is disposed, a fresh one computed');
  stale.dispose();
  node.lastAppliedIteration = -1;

  serveDStep(0, 1);
  await sleep(20);
  assert.deepEqual(values(lookahead.take(node, 0)), values(node.generate(0, 2)), 'a valid batch again');
  serveDStep(0, 1);
  await sleep(20);
  const other = values(lookahead.take(node, 3));
  assert.deepEqual(other, values(node.generate(3, 2)), 'another iteration: computed for that iteration');

  current = undefined; // a restore in progress: nothing is computed for an old node
  const n = tf.memory().numTensors;
  serveDStep(0, 1);
  await sleep(20);
  assert.equal(tf.memory().numTensors, n);
  current = node;
});
