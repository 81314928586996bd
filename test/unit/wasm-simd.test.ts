// gantry's wasm SIMD loops (services/core/backend/wasm-simd): the committed bytes are loops.wat
// assembled, they instantiate on the wasm backend's own heap here, and the SIMD Adam update is
// bit-identical to the JavaScript loop it replaces, at every length (the 4-wide body and the
// scalar tail) and on awkward values (zeros, tiny and huge gradients, negative zero).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { tf } from '../../services/core/tf.ts';
import { assembleLoops, LOOPS_TS, renderLoopsModule } from '../../services/core/backend/wasm-simd/assemble.ts';
import { simdLoops, useSimdLoops } from '../../services/core/backend/wasm-simd/loops.ts';
import { ADAM_KERNEL } from '../../services/core/backend/wasm-fast-kernels/adam.ts';
import type { WasmBackend } from '../../services/core/backend/wasm-backend.ts';
import { use, values } from './kernels-harness.ts';

test('loops-wasm.ts holds exactly the assembled loops.wat (run scripts/build-wasm.ts after editing it)', async () => {
  const committed = await readFile(new URL(`../../${LOOPS_TS}`, import.meta.url), 'utf8');
  assert.equal(committed, renderLoopsModule(await assembleLoops()));
});

test('the SIMD loops run on the wasm backend heap of this Node.js', async () => {
  await use('fast');
  assert.notEqual(simdLoops(tf.backend() as unknown as WasmBackend), null);
});

function adamOnce(n: number, simd: boolean): Float32Array[] {
  useSimdLoops(simd);
  try {
    return tf.tidy(() => {
      const shape = [n];
      const special = [0, -0, 1e-30, 1e30, -3.5, 7e-8];
      const g = values(shape, 5 + n).map((x, i) => (i < special.length ? special[i] : x * 10 ** ((i % 7) - 3)));
      const inputs = {
        param: tf.tensor1d(values(shape, 1 + n)), m: tf.tensor1d(values(shape, 2 + n).map((x) => x * 1e-3)),
        v: tf.tensor1d(values(shape, 3 + n).map((x) => x * x * 1e-5)), g: tf.tensor1d(g),
      };
      const attrs = { beta1: 0.5, beta2: 0.999, alpha: 2e-4 * Math.sqrt(1 - 0.999 ** 3) / (1 - 0.5 ** 3), epsilon: 1e-8 };
      const outs = tf.engine().runKernel(ADAM_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return outs.map((t) => t.dataSync() as Float32Array);
    });
  } finally {
    useSimdLoops(true);
  }
}

test('the SIMD Adam update is bit-identical to the JavaScript loop at every length', async () => {
  await use('fast');
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 63, 1001, 4096]) {
    const simd = adamOnce(n, true);
    const js = adamOnce(n, false);
    ['param', 'm', 'v'].forEach((name, i) => assert.deepEqual(simd[i], js[i], `${name} differs at n = ${n}`));
    assert.ok(simd[0].some((p, i) => p !== values([n], 1 + n)[i]), `the update moved the parameters at n = ${n}`);
  }
});
