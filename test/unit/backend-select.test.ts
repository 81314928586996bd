// Backend selection: explicit choices, the 'auto' fall-through with its log, the silent-CPU
// detection of tfjs-node-gpu, GANTRY_WASM_KERNELS parsing and second-order gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { tf } from '../../services/core/tf.ts';
import { createLogger, type Logger } from '../../services/telemetry/log.ts';
import {
  BACKEND_CHOICES, BACKEND_PACKAGES, describeNativeDevice, initBackend, type BackendChoice,
} from '../../services/core/backend/select.ts';
import { BackendUnavailableError, UnknownBackendError, WasmKernelSettingError } from '../../services/core/backend/errors.ts';
import { FAST_KERNEL_NAMES, parseWasmKernelSetting } from '../../services/core/backend/wasm-fast-kernels/index.ts';
import { stockConfig } from '../../services/core/backend/wasm-backend.ts';

function capture(): { log: Logger; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const log = createLogger({ component: 'backend-test', format: 'json', level: 'debug', stream });
  return { log, records: () => lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

test('BACKEND_CHOICES lists auto and every concrete backend', () => {
  assert.deepEqual([...BACKEND_CHOICES], ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
  for (const c of BACKEND_CHOICES.filter((c) => c !== 'auto')) assert.match(BACKEND_PACKAGES[c as Exclude<BackendChoice, 'auto'>], /^@tensorflow\//);
});

test('cpu: plain JS backend, no fast kernels', async () => {
  const info = await initBackend('cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(info, {
    requested: 'cpu', name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', device: 'CPU (JS)', kernels: 'n/a', fastKernels: [], tried: [],
  });
});

test('wasm: reports SIMD and thread count, fast kernels on by default, stock restores the originals', async () => {
  const fast = await initBackend('wasm', undefined, { wasmKernels: 'fast' });
  assert.equal(tf.getBackend(), 'wasm');
  assert.match(fast.device, /^CPU \(wasm( SIMD)?, \d+ threads?\)$/);
  assert.equal(fast.kernels, 'fast');
  assert.deepEqual(fast.fastKernels, [...FAST_KERNEL_NAMES]);
  assert.notEqual(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc, stockConfig('BatchMatMul')?.kernelFunc);

  const stock = await initBackend('wasm', undefined, { wasmKernels: 'stock' });
  assert.equal(stock.kernels, 'stock');
  assert.deepEqual(stock.fastKernels, []);
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc, stockConfig('BatchMatMul')?.kernelFunc);
  // The missing gradient kernels stay registered (as cpu delegates) in stock mode.
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  assert.ok(tf.getKernel('UnsortedSegmentSum', 'wasm'));

  const some = await initBackend('wasm', undefined, { wasmKernels: 'BatchMatMul' });
  assert.deepEqual(some.fastKernels, FAST_KERNEL_NAMES.filter((n) => n !== 'BatchMatMul'));
  assert.equal(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc, stockConfig('BatchMatMul')?.kernelFunc);
  await initBackend('wasm');
});

for (const choice of ['tensorflow-gpu', 'tensorflow'] as const) {
  test(`explicit ${choice} that cannot load fails naming the package and the cause`, async () => {
    const before = tf.getBackend();
    await assert.rejects(initBackend(choice), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError);
      assert.equal(e.name, 'BackendUnavailableError');
      assert.equal(e.packageName, BACKEND_PACKAGES[choice]);
      assert.match(e.message, new RegExp(`'${choice}' \\(npm package ${BACKEND_PACKAGES[choice]}\\).*import failed`));
      assert.ok(e.cause, 'the import error is chained');
      return true;
    });
    assert.equal(tf.getBackend(), before, 'a failed choice leaves the backend as it was');
  });
}

test('auto falls through the native packages to wasm and logs each reason', async () => {
  const { log, records } = capture();
  const info = await initBackend('auto', log);
  assert.equal(info.name, 'wasm');
  assert.deepEqual(info.tried.map((t) => t.backend), ['tensorflow-gpu', 'tensorflow']);
  for (const t of info.tried) assert.match(t.error, /import failed/);
  const msgs = records().map((r) => r.msg);
  assert.deepEqual(msgs, ['tfjs backend unavailable, trying the next', 'tfjs backend unavailable, trying the next', 'tfjs backend selected']);
  const selected = records()[2];
  assert.equal(selected.name, 'wasm');
  assert.equal(selected.device, info.device);
  assert.equal((selected.tried as unknown[]).length, 2);
});

test('a native package that loads but registers no backend is reported', async () => {
  const info = await initBackend('auto', undefined, { importModule: async () => ({}) });
  assert.equal(info.name, 'wasm');
  assert.match(info.tried[0].error, /registered no 'tensorflow' backend/);
});

test('tfjs-node-gpu silently on the CPU: device says so and a warning is logged', async () => {
  const cpuClass = (tf.findBackend('cpu') as object).constructor as new () => tf.KernelBackend;
  const importModule = async (): Promise<void> => {
    tf.registerBackend('tensorflow', () => Object.assign(new cpuClass(), { isUsingGpuDevice: false }), 0);
  };
  const { log, records } = capture();
  try {
    const info = await initBackend('tensorflow-gpu', log, { importModule });
    assert.equal(info.name, 'tensorflow');
    assert.equal(info.package, '@tensorflow/tfjs-node-gpu');
    assert.match(info.device, /^CPU \(libtensorflow; tfjs-node-gpu found no usable GPU\)$/);
    const warn = records().find((r) => r.level === 'warn');
    assert.ok(warn, 'a warning record');
    assert.match(String(warn.msg), /computes on the CPU/);
  } finally {
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');
  }
});

test('describeNativeDevice names the GPU, or the CPU fallback', () => {
  assert.deepEqual(describeNativeDevice(true, true, 'NVIDIA H200'), { device: 'GPU: NVIDIA H200' });
  assert.deepEqual(describeNativeDevice(false, false, null), { device: 'CPU (libtensorflow)' });
  const fallback = describeNativeDevice(true, false, null);
  assert.match(fallback.device, /^CPU/);
  assert.match(fallback.warning ?? '', /CUDA 11\.2/);
});

test('an unknown choice is rejected with the allowed names', async () => {
  await assert.rejects(initBackend('webgpu' as BackendChoice), (e: unknown) => {
    assert.ok(e instanceof UnknownBackendError);
    assert.match(e.message, /auto, tensorflow-gpu, tensorflow, wasm, cpu; got 'webgpu'/);
    return true;
  });
});

test('GANTRY_WASM_KERNELS: fast, stock, a list to disable; unknown names are rejected', () => {
  assert.equal(parseWasmKernelSetting(undefined).disabled.size, 0);
  assert.equal(parseWasmKernelSetting(' fast ').disabled.size, 0);
  assert.deepEqual([...parseWasmKernelSetting('stock').disabled], [...FAST_KERNEL_NAMES]);
  assert.deepEqual([...parseWasmKernelSetting('BatchMatMul, Sum').disabled], ['BatchMatMul', 'Sum']);
  assert.throws(() => parseWasmKernelSetting('BatchMatMul,Conv9D'), (e: unknown) => {
    assert.ok(e instanceof WasmKernelSettingError);
    assert.match(e.message, /GANTRY_WASM_KERNELS.*'Conv9D'/);
    assert.match(e.message, /BatchMatMul/);
    return true;
  });
});

test('second-order gradients through leakyRelu (zero gradient for Greater)', async () => {
  await initBackend('cpu');
  const x = tf.tensor1d([-2, -0.5, 0.5, 3]);
  const w = tf.scalar(1.5);
  // d/dw of (d/dx sum(leaky(w x)))^2: the inner gradient is w * slope(x), so the outer is 2 w slope².
  const outer = tf.grad((wv: tf.Tensor) => tf.sum(tf.square(tf.grad((xv: tf.Tensor) => tf.sum(tf.leakyRelu(tf.mul(wv, xv), 0.2)))(x))))(w);
  const slopes = [0.2, 0.2, 1, 1];
  const expected = slopes.reduce((s, a) => s + 2 * 1.5 * a * a, 0);
  assert.ok(Math.abs(outer.dataSync()[0] - expected) < 1e-5, `got ${outer.dataSync()[0]}, expected ${expected}`);
});
