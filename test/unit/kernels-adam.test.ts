// The fused Adam kernel (wasm-fast-kernels/adam.ts) against the op-by-op update it replaces:
// bit-identical on wasm, within float32 round-off of the cpu backend, no leaks, and absent
// (so the op-by-op form runs) in 'stock' mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { Adam, WORKSHOP_DECAY } from '../../services/core/optim.ts';
import { ADAM_KERNEL } from '../../services/core/backend/wasm-fast-kernels/adam.ts';
import { backendDataIds, relErr, use, values, type Mode } from './kernels-harness.ts';

// A conv filter, a bias, a 1-element scale and an odd-sized dense weight.
const SHAPES = [[4, 4, 3, 5], [5], [1], [37, 29]];
const STEPS = 6;

interface State { params: Float32Array[]; slots: Float32Array[] }

async function run(mode: Mode, hyper: { lr: number; beta1: number; beta2: number; epsilon: number; decayRate: number; decaySteps: number }): Promise<State> {
  await use(mode);
  const params = SHAPES.map((shape, i) => ({ name: `p${i}`, variable: tf.tidy(() => tf.variable(tf.tensor(values(shape, 11 + i), shape))) }));
  const adam = new Adam(params, hyper);
  const before = { tensors: tf.memory().numTensors, ids: backendDataIds() };
  for (let t = 0; t < STEPS; t++) {
    // Gradients over several magnitudes, including exact zeros (sqrt(v) = 0 at the first step).
    const grads = SHAPES.map((shape, i) => tf.tidy(() => {
      const g = tf.mul(tf.tensor(values(shape, 100 * t + i), shape), 10 ** (i - 2));
      return i === 1 && t === 0 ? tf.zerosLike(g) : g;
    }));
    adam.apply(grads);
    grads.forEach((g) => g.dispose());
  }
  assert.equal(tf.memory().numTensors, before.tensors, `Adam on ${mode} leaked tensors`);
  assert.equal(backendDataIds(), before.ids, `Adam on ${mode} leaked backend buffers`);
  const state = {
    params: params.map((p) => p.variable.dataSync() as Float32Array),
    slots: adam.slotTensors().map((s) => s.variable.dataSync() as Float32Array),
  };
  adam.dispose();
  params.forEach((p) => p.variable.dispose());
  return state;
}

const HYPERS = {
  'gan (beta1 0.5, no decay)': { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 },
  'classifier (beta1 0.9, workshop decay)': { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, ...WORKSHOP_DECAY, decaySteps: 3 },
};

test('the fused Adam kernel is registered with the fast kernels only', async () => {
  await use('fast');
  assert.ok(tf.getKernel(ADAM_KERNEL, 'wasm'), 'fast mode registers it');
  await use('stock');
  assert.equal(tf.getKernel(ADAM_KERNEL, 'wasm'), undefined, 'stock mode removes it');
});

for (const [label, hyper] of Object.entries(HYPERS)) {
  test(`fused Adam is bit-identical to the op-by-op update on wasm and matches cpu: ${label}`, async () => {
    const fast = await run('fast', hyper);
    const stock = await run('stock', hyper);
    const cpu = await run('cpu', hyper);
    fast.params.forEach((p, i) => assert.deepEqual(p, stock.params[i], `param ${i}: fused vs op-by-op`));
    fast.slots.forEach((s, i) => assert.deepEqual(s, stock.slots[i], `slot ${i}: fused vs op-by-op`));
    fast.params.forEach((p, i) => assert.ok(relErr(p, cpu.params[i]) <= 1e-6, `param ${i} vs cpu: ${relErr(p, cpu.params[i])}`));
    // The parameters moved: the comparison is not between untouched initial values.
    const initial = values(SHAPES[0], 11);
    assert.ok(relErr(fast.params[0], initial) > 1e-5, 'Adam changed the parameters');
  });
}
