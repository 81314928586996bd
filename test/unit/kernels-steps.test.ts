// Whole training steps of every preset graph (services/core/backend/graphs.ts) on wasm against the
// cpu backend: the D step and G step of each GAN (every loss for the MLP; the WGAN-GP penalty's
// second-order gradient through the MLP and the conv discriminator) and the classifier step.
//   wasm + fast kernels: relative error <= 1e-5
//   wasm stock + the cpu-delegated gradient kernels (Part A): <= 1e-4
// The error is taken over each network's whole gradient as one vector (max|a-b| / max|b|); per
// tensor, a gradient that is a sum with heavy cancellation (the last deconv's bias) sits at the
// float32 noise floor of any backend, stock wasm included. Losses: |a-b| / max(|b|, 1).
// The cpu reference uses a float64 Conv2DBackpropFilter (kernels-harness.ts), checked against
// the cpu kernel in kernels-ops.test.ts; the cpu kernel itself needs seconds per call here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { buildGraph, disposeParams, initParams, type GraphName } from '../../services/core/backend/graphs.ts';
import { ganDGrads, ganGGrads, stepInputs, type GraphLoss } from '../../services/core/backend/graph-steps.ts';
import { backendDataIds, graphStep, readGrads, relErrAll, use, useReferenceFilterGrad, type Mode } from './kernels-harness.ts';

async function check(name: GraphName, loss: GraphLoss, batch: number, modes: { mode: Mode; tol: number }[]): Promise<void> {
  const ref = await graphStep('cpu', name, loss, batch);
  for (const { mode, tol } of modes) {
    const got = await graphStep(mode, name, loss, batch);
    ref.losses.forEach((l, i) => {
      const err = Math.abs(got.losses[i] - l) / Math.max(Math.abs(l), 1);
      assert.ok(err <= tol, `${name} ${loss} ${mode}: loss ${i} ${got.losses[i]} vs ${l}`);
    });
    for (const [net, grads] of Object.entries(ref.nets)) {
      const err = relErrAll(got.nets[net], grads);
      assert.ok(err <= tol, `${name} ${loss} ${mode}: ${net} gradient relative error ${err.toExponential(2)} > ${tol}`);
    }
  }
}

const FAST = { mode: 'fast' as const, tol: 1e-5 };
const STOCK = { mode: 'stock' as const, tol: 1e-4 };

before(() => useReferenceFilterGrad(true));
after(() => useReferenceFilterGrad(false));

test('mlp: every loss, including the WGAN-GP second-order gradient', async () => {
  for (const loss of ['nsgan', 'lsgan', 'hinge', 'wgan-gp'] as const) await check('mlp', loss, 8, [FAST, STOCK]);
});

test('dcgan: non-saturating step', async () => {
  await check('dcgan', 'nsgan', 4, [FAST]);
});

test('dcgan: WGAN-GP second-order gradient through the conv discriminator', async () => {
  await check('dcgan', 'wgan-gp', 4, [FAST, STOCK]);
});

test('infogan: non-saturating step (batch 8: batch norm over 4 samples is too ill-conditioned)', async () => {
  await check('infogan', 'nsgan', 8, [FAST]);
});

test('classifiers: workshop and quick', async () => {
  await check('workshop', 'nsgan', 8, [FAST]);
  await check('quick', 'nsgan', 8, [FAST, STOCK]);
});

test('repeated steps on fast wasm keep tensors and wasm buffers flat', async () => {
  await use('fast');
  const graph = buildGraph('dcgan');
  if (graph.kind !== 'gan') throw new Error('dcgan is a GAN graph');
  const gp = initParams(graph.g.params, 1);
  const dp = initParams(graph.d.params, 2);
  const { real, z } = stepInputs(2, graph.zDim, 9);
  const counts: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    readGrads(ganDGrads(graph, gp, dp, real, z, 'wgan-gp'));
    readGrads(ganGGrads(graph, gp, dp, z, 'nsgan'));
    counts.push([tf.memory().numTensors, backendDataIds()]);
  }
  assert.deepEqual(counts[2], counts[1]);
  assert.deepEqual(counts[1], counts[0]);
  disposeParams(gp);
  disposeParams(dp);
  tf.dispose([real, z]);
});
