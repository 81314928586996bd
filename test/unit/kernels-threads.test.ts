// The split kernels of the two-thread wasm backend (services/core/backend/wasm-parallel/) against
// the one-thread kernels they wrap: bit-identical on the presets' shapes at batch 64 and on odd
// ones (batch 3, 1 channel, stride 3, 'valid', explicit padding, fallbacks for batch 1 and small
// calls); whole training steps on two threads bit-identical to one thread and within 1e-5 of the
// cpu backend; no tensors or wasm buffers left behind on either thread; GANTRY_WASM_THREADS
// checked; a dead worker turns into a WasmWorkerError instead of a hang; the governor that times
// each call signature both ways keeps the faster.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { WasmThreadsSettingError, WasmWorkerError } from '../../services/core/backend/errors.ts';
import {
  resetSplitTimings, SPLIT_KERNEL_NAMES, splitTimings, wasmThreadPool, type WasmWorkerPool,
} from '../../services/core/backend/wasm-parallel/index.ts';
import { SplitGovernor } from '../../services/core/backend/wasm-parallel/split-governor.ts';
import { batchMatMulSplit } from '../../services/core/backend/wasm-parallel/split-mat-mul.ts';
import { clearTransposedCache } from '../../services/core/backend/wasm-fast-kernels/transposed-cache.ts';
import { backendDataIds, presetStepValues, relErrAll, use, useReferenceFilterGrad, values, type StepValues } from './kernels-harness.ts';

interface Case { label: string; kernel: string; inputs: Record<string, number[]>; attrs: tf.NamedAttrMap; split: boolean }

const conv = (strides: number, pad: unknown): tf.NamedAttrMap =>
  ({ strides, pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined }) as unknown as tf.NamedAttrMap;

function outShape(x: number[], f: number[], strides: number, pad: unknown): number[] {
  return tf.backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number],
    strides, 1, pad as 'same').outShape;
}

/** Conv2D, its input gradient and its filter gradient for one geometry. */
function convCases(label: string, x: number[], f: number[], strides: number, pad: unknown, split = true): Case[] {
  const dy = outShape(x, f, strides, pad);
  return [
    { label, kernel: 'Conv2D', inputs: { x, filter: f }, attrs: conv(strides, pad), split },
    { label, kernel: 'Conv2DBackpropInput', inputs: { dy, filter: f }, attrs: { ...conv(strides, pad), inputShape: x }, split },
    { label, kernel: 'Conv2DBackpropFilter', inputs: { x, dy }, attrs: { ...conv(strides, pad), filterShape: f }, split },
  ];
}

const mm = (label: string, a: number[], b: number[], transposeA: boolean, transposeB: boolean, split = true): Case =>
  ({ label, kernel: 'BatchMatMul', inputs: { a, b }, attrs: { transposeA, transposeB }, split });

/** A dense layer (k -> n) at batch m: forward x·W, dx = dy·Wᵀ, dW = xᵀ·dy. */
const dense = (m: number, k: number, n: number): Case[] => [
  mm(`x·W ${m}x${k}x${n}`, [m, k], [k, n], false, false),
  mm(`dy·Wᵀ ${m}x${n}x${k}`, [m, n], [k, n], false, true),
  mm(`xᵀ·dy ${k}x${m}x${n}`, [m, k], [m, n], true, false),
];

const PRESET_CASES: Case[] = [
  ...convCases('conv 64->128 / deconv 128->64, batch 64', [64, 14, 14, 64], [4, 4, 64, 128], 2, 'same'),
  ...convCases('quick conv 32->64, batch 64', [64, 14, 14, 32], [4, 4, 32, 64], 2, 'same'),
  // The first layer is below the split threshold: the wrapped kernel runs alone.
  ...convCases('conv 1->64 / deconv 64->1, batch 64 (one thread)', [64, 28, 28, 1], [4, 4, 1, 64], 2, 'same', false),
  ...dense(64, 1024, 6272), ...dense(64, 6272, 1024),
  mm('mlp 784 -> 512 (one thread)', [64, 784], [784, 512], false, false, false),
];

const ODD_CASES: Case[] = [
  ...convCases('batch 3 (odd split), stride 1', [3, 32, 32, 64], [3, 3, 64, 64], 1, 'same'),
  ...convCases('stride 3, valid, batch 9', [9, 61, 61, 32], [4, 4, 32, 64], 3, 'valid'),
  ...convCases('1 input channel, batch 32', [32, 28, 28, 1], [5, 5, 1, 128], 1, 'same'),
  ...convCases('explicit asymmetric padding, batch 6', [6, 30, 29, 48], [3, 3, 48, 96], 2, [[0, 0], [1, 2], [0, 3], [0, 0]]),
  ...convCases('batch 1 (cannot split the batch)', [1, 56, 56, 64], [4, 4, 64, 128], 2, 'same').map((c) =>
    ({ ...c, split: c.kernel === 'Conv2DBackpropFilter' })),
  { label: '1 output channel (cannot split the channels)', kernel: 'Conv2DBackpropFilter',
    inputs: { x: [16, 56, 56, 64], dy: [16, 56, 56, 1] }, attrs: { ...conv(1, 'same'), filterShape: [5, 5, 64, 1] }, split: false },
  mm('3 rows (odd split), streamed weight', [3, 4096], [4096, 4100], false, false),
  mm('both transposed, 7 x 5001 x 3000', [3000, 7], [5001, 3000], true, true),
  mm('rank 3, transposeA, odd columns', [1, 300, 2001], [1, 300, 255], true, false),
  mm('a single output row (splits the columns)', [1, 6000], [9001, 6000], false, true),
];

function inputsOf(c: Case): tf.NamedTensorMap {
  return Object.fromEntries(Object.entries(c.inputs).map(([name, shape], i) => [name, tf.tensor(values(shape, 11 + 17 * i), shape)]));
}

/** The kernel's output on the current backend; no tensor or buffer may be left behind. */
function run(c: Case): Float32Array {
  const inputs = inputsOf(c);
  clearTransposedCache(); // a cached Wᵀ of an earlier call is freed, not leaked, by the one below
  const before = { tensors: tf.memory().numTensors, ids: backendDataIds() };
  const out = tf.engine().runKernel(c.kernel, inputs, c.attrs) as tf.Tensor;
  const data = out.dataSync() as Float32Array;
  out.dispose();
  clearTransposedCache();
  assert.equal(tf.memory().numTensors, before.tensors, `${c.kernel} ${c.label}: tensors leaked`);
  assert.equal(backendDataIds(), before.ids, `${c.kernel} ${c.label}: wasm buffers leaked`);
  tf.dispose(Object.values(inputs));
  return data;
}

function pool(): WasmWorkerPool {
  const p = wasmThreadPool();
  assert.ok(p, 'two threads: a worker pool runs');
  return p;
}

async function compareThreads(cases: Case[]): Promise<void> {
  await use('fast');
  const one = cases.map(run);
  await use('fast2');
  const p = pool();
  resetSplitTimings(); // every case below is a signature's first call: split if it can be
  cases.forEach((c, i) => {
    const jobs = p.jobsRun;
    const two = run(c);
    assert.equal(p.jobsRun > jobs, c.split, `${c.kernel} ${c.label}: ${c.split ? 'expected a split' : 'expected one thread'}`);
    assert.ok(two.every((v, j) => Object.is(v, one[i][j])), `${c.kernel} ${c.label}: two threads differ from one`);
  });
  const [stats] = p.stats();
  assert.equal(stats.tensors, 0, 'the worker keeps no tensors');
}

test('preset shapes at batch 64: two threads bit-identical to one, small calls stay on one thread', async () => {
  await compareThreads(PRESET_CASES);
});

test('odd shapes: odd splits, stride 3, valid and explicit padding, 1 channel, unsplittable calls', async () => {
  await compareThreads(ODD_CASES);
});

test('BatchMatMul splits rows or columns by what moves least, streamed weights by columns of Wᵀ', async () => {
  await use('fast2');
  const plan = (c: Case) => {
    const inputs = inputsOf(c);
    const p = batchMatMulSplit.plan({ inputs, attrs: c.attrs, backend: tf.backend() }, 2);
    tf.dispose(Object.values(inputs));
    clearTransposedCache();
    assert.ok(p, `${c.label}: split`);
    const worker = p.shares[1];
    return { by: worker.outBlock.c0 > 0 ? 'columns' : 'rows', transposeB: worker.attrs.transposeB, bShape: worker.inputs.b.shape };
  };
  const [forward, dx, dw] = dense(64, 1024, 6272);
  assert.deepEqual(plan(forward), { by: 'columns', transposeB: true, bShape: [3136, 1024] }, 'x·W: rows of the cached Wᵀ');
  assert.deepEqual(plan(dx), { by: 'columns', transposeB: true, bShape: [512, 6272] }, 'dy·Wᵀ: rows of W, contiguous');
  assert.deepEqual(plan(dw), { by: 'columns', transposeB: false, bShape: [64, 3136] }, 'xᵀ·dy: columns of dy (the output block moves either way)');
  assert.deepEqual(plan(mm('tall xᵀ·W', [600, 4000], [600, 64], true, false)), { by: 'rows', transposeB: false, bShape: [600, 64] },
    'a tall product with a small right operand: rows (columns of A, strided)');
});

// Batch 8 puts the workshop classifier's conv 64->128 (forward, dx, dW) and 6272 -> 1024 layer
// (all three products), and dcgan's conv 64->128 and deconv 128->64, just above the split
// threshold. dcgan is compared with one thread only: one thread against cpu is
// kernels-steps.test.ts's, and its cpu reference at batch 8 would double this test's time.
const STEPS: { name: 'workshop' | 'dcgan'; batch: number; cpu: boolean }[] = [
  { name: 'workshop', batch: 8, cpu: true }, { name: 'dcgan', batch: 8, cpu: false },
];

test('whole training steps: two threads bit-identical to one and within 1e-5 of cpu', async () => {
  useReferenceFilterGrad(true);
  try {
    const cpu: (StepValues | null)[] = [];
    for (const s of STEPS) cpu.push(s.cpu ? await presetStepValues('cpu', { preset: s.name, batch: s.batch }) : null);
    const one: StepValues[] = [];
    for (const s of STEPS) one.push(await presetStepValues('fast', { preset: s.name, batch: s.batch }));
    await use('fast2');
    resetSplitTimings();
    for (const [i, s] of STEPS.entries()) {
      const jobs = pool().jobsRun;
      const two = await presetStepValues('fast2', { preset: s.name, batch: s.batch });
      assert.ok(pool().jobsRun >= jobs + 4, `${s.name}: the big kernels were split (${pool().jobsRun - jobs} shares)`);
      assert.deepEqual(two, one[i], `${s.name}: two threads vs one`);
      for (const [net, grads] of Object.entries(cpu[i]?.nets ?? {})) {
        const err = relErrAll(two.nets[net], grads);
        assert.ok(err <= 1e-5, `${s.name} ${net}: gradient relative error to cpu ${err.toExponential(2)} > 1e-5`);
      }
    }
  } finally {
    useReferenceFilterGrad(false);
  }
});

test('repeated split kernels keep tensors and buffers flat on both threads', async () => {
  await use('fast2');
  resetSplitTimings();
  const cases = [PRESET_CASES[0], PRESET_CASES[1], PRESET_CASES[2], ...dense(64, 1024, 6272)];
  const counts: string[] = [];
  for (let i = 0; i < 3; i++) {
    cases.forEach(run);
    counts.push(JSON.stringify([tf.memory().numTensors, backendDataIds(), pool().stats()]));
  }
  assert.equal(counts[1], counts[0]);
  assert.equal(counts[2], counts[1]);
  // Three calls of each signature split (one warm-up, two timed) before the other way is timed.
  const timed = [...splitTimings().values()];
  assert.equal(timed.length, cases.length);
  assert.ok(timed.every(([one, split]) => one === 0 && split > 0), 'each signature timed split, not yet on one thread');
});

test('the split governor times each signature both ways, keeps the faster and re-checks now and then', () => {
  const g = new SplitGovernor();
  const drive = (calls: number, ms: (split: boolean) => number): boolean[] => Array.from({ length: calls }, () => {
    const split = g.choose('k');
    g.record('k', split, ms(split));
    return split;
  });
  const warmUp = drive(6, (split) => (split ? 10 : 20));
  assert.deepEqual(warmUp, [true, true, true, false, false, false], 'three calls each way: one warm-up, two timed');
  const fastSplit = drive(26, (split) => (split ? 10 : 20));
  assert.equal(fastSplit.filter((x) => !x).length, 2, 'a faster split: one thread only on every 16th call');
  const slowSplit = drive(40, (split) => (split ? 40 : 20));
  assert.ok(slowSplit.slice(-16).filter((x) => x).length <= 1, 'a split that became slower is dropped, re-checked every 16th call');
  assert.deepEqual([...g.snapshot().keys()], ['k']);
});

test('a worker that throws or dies becomes a WasmWorkerError naming the kernel, never a hang', async () => {
  await use('fast2');
  const p = pool();
  const share = { attrs: {}, inputs: { x: { shape: [2], fill: (d: Float32Array) => d.fill(1) } }, outShape: [2], take: () => undefined };
  assert.throws(() => p.run('NoSuchKernel', [share], () => 0), (e: unknown) => {
    assert.ok(e instanceof WasmWorkerError);
    assert.equal(e.kernel, 'NoSuchKernel');
    assert.match(e.message, /wasm worker 1 running its share of NoSuchKernel: .*no wasm kernel 'NoSuchKernel'/);
    return true;
  });
  assert.equal(p.broken, null, 'a kernel that threw leaves the worker serving');
  const big = PRESET_CASES[0];
  resetSplitTimings();
  p.terminateWorker(1);
  const started = performance.now();
  const inputs = inputsOf(big);
  try {
    assert.throws(() => tf.engine().runKernel(big.kernel, inputs, big.attrs), (e: unknown) => {
      assert.ok(e instanceof WasmWorkerError, `got ${String(e)}`);
      assert.equal(e.kernel, 'Conv2D');
      assert.match(e.message, /wasm worker 1 running its share of Conv2D: .*(stopped|exited)/);
      return true;
    });
  } finally {
    tf.dispose(Object.values(inputs));
  }
  assert.ok(performance.now() - started < 5000, 'reported within seconds');
  assert.ok(p.broken, 'the pool is marked broken');
  await use('fast2');
  assert.notEqual(wasmThreadPool(), p, 'initBackend replaced the broken pool');
  await compareThreads([big]);
});

test('GANTRY_WASM_THREADS: bad values rejected naming the variable, range and value; stock and 1 mean no workers', async () => {
  const saved = process.env.GANTRY_WASM_THREADS;
  try {
    for (const bad of ['0', '17', 'two', '2.5', '-1']) {
      process.env.GANTRY_WASM_THREADS = bad;
      await assert.rejects(initBackend('wasm'), (e: unknown) => {
        assert.ok(e instanceof WasmThreadsSettingError);
        assert.equal(e.message, `GANTRY_WASM_THREADS: expected an integer from 1 to 16 (threads the wasm backend computes on, main thread included); found '${bad}'`);
        return true;
      });
    }
    await assert.rejects(initBackend('wasm', undefined, { wasmThreads: 0 }), /InitBackendOptions\.wasmThreads: expected an integer from 1 to 16.*found '0'/);
    process.env.GANTRY_WASM_THREADS = '2';
    const two = await initBackend('wasm');
    assert.match(two.device, /^CPU \(wasm( SIMD)?, 2 threads\)$/);
    assert.equal(two.wasmThreads, 2);
    assert.ok(SPLIT_KERNEL_NAMES.every((n) => tf.getKernel(n, 'wasm') != null));
    const stock = await initBackend('wasm', undefined, { wasmKernels: 'stock' });
    assert.equal(stock.wasmThreads, 1, 'stock kernels: no split kernels, no workers');
    assert.equal(wasmThreadPool(), null);
    const one = await initBackend('wasm', undefined, { wasmThreads: 1 });
    assert.match(one.device, /, 1 thread\)$/);
    assert.equal(wasmThreadPool(), null);
  } finally {
    if (saved === undefined) delete process.env.GANTRY_WASM_THREADS;
    else process.env.GANTRY_WASM_THREADS = saved;
  }
});

after(async () => {
  await initBackend('cpu'); // stops the workers (unref()ed: they would not keep the process alive)
});
