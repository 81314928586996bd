// A worker's Replica keeps the state before each step as clones that share the variables' buffers
// (services/worker/replica.ts): rolling an uncommitted step back must give the pre-step state bit
// for bit, redoing the step must give what the first attempt gave, and nothing may leak.
// Quick preset, batch 16, a group of one (the data-parallel step itself is core/parallel's tests).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { classifierTrainSchema, parseConfig } from '../../services/train/config.ts';
import { Replica } from '../../services/worker/replica.ts';
import type { GroupHandle } from '../../services/collective/group-handle.ts';

let data: ImageSet;
before(async () => {
  await initBackend('wasm');
  data = await loadImageSet({ split: 'test' });
});

const alone: GroupHandle = {
  generation: 1, rank: 0, size: 1, step: 0, sum: async (buf) => buf, gather: async (buf) => buf, connect: async () => undefined,
  takeWait: () => ({ gradsSeconds: 0, otherSeconds: 0, calls: 0 }), close: () => undefined,
};

function replica(): Replica {
  const cfg = parseConfig(classifierTrainSchema, { preset: 'quick', batchSize: 16, validationSize: 100, seed: 3 }, 'test');
  return new Replica(cfg, 'h'.repeat(64), { train: data, test: data });
}

test('a rolled-back step restores the state bit for bit, and redoing it gives the same weights', async () => {
  const straight = replica();
  const redone = replica();
  try {
    const initial = straight.hash();
    assert.equal(redone.hash(), initial);
    await straight.step(0, alone);
    await straight.step(1, alone);
    const afterTwo = straight.hash();
    assert.notEqual(afterTwo, initial);

    await redone.step(0, alone);
    const afterOne = redone.hash();
    assert.equal(redone.rollBackTo(0), true);
    assert.equal(redone.applied, 0);
    assert.equal(redone.optimizer.step, 0);
    assert.equal(redone.hash(), initial, 'the weights, moving statistics and Adam slots before step 0');
    await redone.step(0, alone);
    assert.equal(redone.hash(), afterOne);
    const tensors = tf.memory().numTensors;
    await redone.step(1, alone);
    assert.equal(redone.hash(), afterTwo);
    assert.equal(redone.rollBackTo(0), false, 'step 1 started: step 0 is committed, its state is gone');
    // Step 1 kept the state before it (step 0's kept state released: the count is as before step 1).
    assert.equal(tf.memory().numTensors, tensors, 'the kept state of a committed step is released');
    assert.equal(redone.rollBackTo(2, { step: 1, generation: 1 }), true, 'step 1 committed by the generation that ran it: kept');
    assert.ok(tf.memory().numTensors < tensors, 'and once confirmed, the state kept before it is released too');
    assert.equal(redone.rollBackTo(2), true, 'a confirmed step stays applied (join asks again without the commit)');
    assert.equal(redone.hash(), afterTwo);
  } finally {
    straight.dispose();
    redone.dispose();
  }
});

test('a pending step whose commit the scheduler does not confirm for its generation is rolled back', async () => {
  const r = replica();
  try {
    await r.step(0, alone);
    const afterOne = r.hash();
    await r.step(1, alone); // pending: no step 2 has confirmed its commit
    // Another generation (7) committed step 1 without this replica: its version of step 1 is not the run's.
    assert.equal(r.rollBackTo(2, { step: 1, generation: 7 }), false);
    assert.equal(r.applied, 1);
    assert.equal(r.hash(), afterOne, 'back to the state before its own step 1');
    await r.step(1, alone);
    assert.equal(r.rollBackTo(2), false, 'no commit known (a scheduler that took over): not trusted either');
    assert.equal(r.applied, 1);
    await r.step(1, alone);
    assert.equal(r.rollBackTo(1), true, 'asked for the step before: the pending step is simply undone');
    assert.equal(r.hash(), afterOne);
  } finally {
    r.dispose();
  }
});
