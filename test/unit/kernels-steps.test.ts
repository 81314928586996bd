// Whole training steps of the real presets (services/core/backend/preset-steps.ts: the nodes and
// the classifier step that training runs) on wasm against the cpu backend: the D step, the G step
// and the discriminator's upstream gradient dL_G/dG(z') of each GAN (every loss for the MLP; the
// WGAN-GP penalty's second-order gradient through the MLP and the conv discriminator; the deeper
// discriminators and generators and a 16-dimensional mixture prior) and the classifier step.
//   wasm + fast kernels: relative error <= 1e-5
//   wasm stock + the cpu-delegated gradient kernels (Part A): <= 1e-4
// The error is taken over each network's whole gradient as one vector (max|a-b| / max|b|); per
// tensor, a gradient that is a sum with heavy cancellation (a bias in front of batch norm) sits at
// the float32 noise floor of any backend, stock wasm included. Losses: |a-b| / max(|b|, 1).
// The cpu reference uses a float64 Conv2DBackpropFilter (kernels-harness.ts), checked against
// the cpu kernel in kernels-ops.test.ts; the cpu kernel itself needs seconds per call here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { presetStep } from '../../services/core/backend/preset-steps.ts';
import { GAN_LOSSES } from '../../services/core/losses.ts';
import { backendDataIds, presetStepValues, relErrAll, use, useReferenceFilterGrad, type Mode, type StepSpec } from './kernels-harness.ts';

async function check(spec: StepSpec, modes: { mode: Mode; tol: number }[]): Promise<void> {
  const label = JSON.stringify(spec);
  const ref = await presetStepValues('cpu', spec);
  assert.deepEqual(Object.keys(ref.nets), spec.preset === 'workshop' || spec.preset === 'quick' ? ['classifier'] : ['D', 'G', 'upstream']);
  for (const { mode, tol } of modes) {
    const got = await presetStepValues(mode, spec);
    ref.losses.forEach((l, i) => {
      const err = Math.abs(got.losses[i] - l) / Math.max(Math.abs(l), 1);
      assert.ok(Number.isFinite(l) && err <= tol, `${label} ${mode}: loss ${i} ${got.losses[i]} vs ${l}`);
    });
    for (const [net, grads] of Object.entries(ref.nets)) {
      assert.ok(grads.some((g) => g.some((v) => v !== 0)), `${label}: the cpu ${net} gradient is not all zero`);
      const err = relErrAll(got.nets[net], grads);
      assert.ok(err <= tol, `${label} ${mode}: ${net} gradient relative error ${err.toExponential(2)} > ${tol}`);
    }
  }
}

const FAST = { mode: 'fast' as const, tol: 1e-5 };
const STOCK = { mode: 'stock' as const, tol: 1e-4 };

before(() => useReferenceFilterGrad(true));
after(() => useReferenceFilterGrad(false));

test('mlp: every loss, including the WGAN-GP second-order gradient', async () => {
  for (const loss of GAN_LOSSES) await check({ preset: 'mlp', batch: 8, loss }, [FAST, STOCK]);
});

test('dcgan: non-saturating step', async () => {
  await check({ preset: 'dcgan', batch: 4 }, [FAST]);
});

test('dcgan: WGAN-GP second-order gradient through the conv discriminator', async () => {
  await check({ preset: 'dcgan', batch: 4, loss: 'wgan-gp' }, [FAST, STOCK]);
});

test('dcgan variants: d-layers 5, g-layers 6 with a 3x3 kernel, z 16 from a 10-component mixture', async () => {
  await check({ preset: 'dcgan', batch: 4, loss: 'hinge', arch: { dLayers: 5, gLayers: 6, gKernel: 3, zDim: 16, zMixture: 10, gWidth: 16, dWidth: 16 } },
    [FAST, STOCK]);
});

test('infogan: non-saturating step (batch 8: batch norm over 4 samples is too ill-conditioned)', async () => {
  await check({ preset: 'infogan', batch: 8 }, [FAST]);
});

test('infogan variants: d-layers 4, g-layers 5, LSGAN', async () => {
  await check({ preset: 'infogan', batch: 8, loss: 'lsgan', arch: { dLayers: 4, gLayers: 5, gWidth: 16, dWidth: 16 } }, [FAST]);
});

test('classifiers: workshop and quick', async () => {
  await check({ preset: 'workshop', batch: 8 }, [FAST]);
  await check({ preset: 'quick', batch: 8 }, [FAST, STOCK]);
});

test('repeated training steps on fast wasm keep tensors and wasm buffers flat', async () => {
  await use('fast');
  for (const step of [presetStep('dcgan', 2, 'wgan-gp'), presetStep('quick', 2)]) {
    const counts: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      step.run();
      counts.push([tf.memory().numTensors, backendDataIds()]);
    }
    step.dispose();
    assert.deepEqual(counts[2], counts[1], `${step.preset}`);
    assert.deepEqual(counts[1], counts[0], `${step.preset}`);
  }
});
