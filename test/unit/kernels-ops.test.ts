// Every fast wasm kernel against the cpu backend, one kernel call at a time, on the shapes the
// presets produce and on odd ones (stride 3, 'valid', explicit asymmetric padding, batch 1,
// 1 channel, non-square, kernel smaller than the stride, fallbacks). Outputs must agree within
// relative error 1e-5, and no call may leave tensors or wasm buffers behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../services/core/tf.ts';
import { backendDataIds, relErr, use, useReferenceFilterGrad, values, type Mode } from './kernels-harness.ts';
import { clearTransposedCache, transposedCacheSize } from '../../services/core/backend/wasm-fast-kernels/transposed-cache.ts';

const TOL = 1e-5;

interface Input { shape: number[]; dtype?: 'float32' | 'int32' | 'bool'; data?: number[] }

/** Runs kernel `name` on seeded inputs with `mode`'s backend; returns the output's values. */
async function runKernel(mode: Mode, name: string, inputs: Record<string, Input>, attrs: tf.NamedAttrMap): Promise<Float32Array | Int32Array | Uint8Array> {
  await use(mode);
  const tensors: tf.NamedTensorMap = {};
  Object.entries(inputs).forEach(([k, spec], i) => {
    const v = values(spec.shape, 17 + 31 * i);
    const dtype = spec.dtype ?? 'float32';
    tensors[k] = spec.data ? tf.tensor(spec.data, spec.shape, dtype) : dtype === 'float32' ? tf.tensor(v, spec.shape)
      : tf.tensor(Array.from(v, (x) => (dtype === 'bool' ? (x > 0 ? 1 : 0) : Math.round(x * 1000))), spec.shape, dtype);
  });
  const before = { tensors: tf.memory().numTensors, ids: backendDataIds() };
  const out = tf.engine().runKernel(name, tensors, attrs) as tf.Tensor;
  const data = out.dataSync() as Float32Array;
  out.dispose();
  // Transposed weights are cached on purpose (transposed-cache.ts); they are not leaks.
  clearTransposedCache();
  assert.equal(tf.memory().numTensors, before.tensors, `${name} on ${mode} leaked tensors`);
  assert.equal(backendDataIds(), before.ids, `${name} on ${mode} leaked backend buffers`);
  tf.dispose(Object.values(tensors));
  return data;
}

async function compare(label: string, name: string, inputs: Record<string, Input>, attrs: tf.NamedAttrMap, mode: Mode = 'fast'): Promise<void> {
  const ref = await runKernel('cpu', name, inputs, attrs);
  const fast = await runKernel(mode, name, inputs, attrs);
  const err = relErr(fast, ref);
  assert.ok(err <= TOL, `${name} ${label}: relative error ${err.toExponential(2)} > ${TOL}`);
}

// Dense layers of every preset (in, out) and the three products of each: forward x·W,
// dx = dy·Wᵀ (transposeB) and dW = xᵀ·dy (transposeA).
const DENSE: [number, number][] = [
  [100, 256], [256, 512], [512, 784], [784, 512], [512, 256], [256, 1], [100, 6272], [62, 1024], [1024, 6272],
  [6272, 1], [6272, 1024], [1024, 1], [1024, 10], [3136, 128], [128, 10],
];

test('BatchMatMul: every dense layer of every preset, forward and both backward products', async () => {
  const b = 4;
  for (const [k, n] of DENSE) {
    await compare(`x·W ${b}x${k}x${n}`, 'BatchMatMul', { a: { shape: [b, k] }, b: { shape: [k, n] } }, { transposeA: false, transposeB: false });
    await compare(`dy·Wᵀ ${b}x${n}x${k}`, 'BatchMatMul', { a: { shape: [b, n] }, b: { shape: [k, n] } }, { transposeA: false, transposeB: true });
    await compare(`xᵀ·dy ${k}x${b}x${n}`, 'BatchMatMul', { a: { shape: [b, k] }, b: { shape: [b, n] } }, { transposeA: true, transposeB: false });
  }
});

test('BatchMatMul: a weight multiplied again after its value changed uses the new value', async () => {
  await use('fast');
  const x = tf.tensor2d(values([4, 300], 1), [4, 300]);
  const w = tf.variable(tf.tensor2d(values([300, 200], 2), [300, 200]));
  const first = tf.matMul(x, w).dataSync();
  assert.equal(transposedCacheSize(), 1, 'x·W ran with the streamed weight');
  w.assign(tf.tensor2d(values([300, 200], 3), [300, 200]));
  const second = tf.matMul(x, w).dataSync();
  await use('cpu');
  const expected = tf.matMul(tf.tensor2d(values([4, 300], 1), [4, 300]), tf.tensor2d(values([300, 200], 3), [300, 200])).dataSync();
  assert.ok(relErr(second, expected) <= TOL, 'the cached transpose of the old value was not reused');
  assert.ok(relErr(first, expected) > 1e-2, 'the two weights differ');
});

test('BatchMatMul: odd shapes, both transposed, rank 3, batched fallback', async () => {
  const cases: [string, Input, Input, boolean, boolean][] = [
    ['both transposed', { shape: [7, 5] }, { shape: [3, 7] }, true, true],
    ['1x1', { shape: [1, 1] }, { shape: [1, 1] }, false, true],
    ['row vector', { shape: [1, 9] }, { shape: [4, 9] }, false, true],
    ['column result', { shape: [9, 6] }, { shape: [9, 1] }, true, false],
    ['rank 3 batch 1', { shape: [1, 5, 8] }, { shape: [1, 3, 8] }, false, true],
    ['rank 3 batch 1 vs rank 2', { shape: [1, 8, 5] }, { shape: [8, 3] }, true, false],
    ['batched (stock path)', { shape: [3, 4, 5] }, { shape: [3, 6, 5] }, false, true],
    ['batched transposeA', { shape: [2, 5, 4] }, { shape: [2, 5, 6] }, true, false],
  ];
  for (const [label, a, b, ta, tb] of cases) await compare(label, 'BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
});

interface ConvCase { label: string; input: number[]; filter: number[]; strides: number | [number, number]; pad: 'same' | 'valid' | number[][] }

function dyShape(c: ConvCase): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.input as [number, number, number, number],
    c.filter as [number, number, number, number], c.strides, 1, c.pad as 'same');
  return info.outShape;
}

const PRESET_CONVS: ConvCase[] = [
  { label: 'conv 64->128 / deconv 128->64 (dcgan, infogan, workshop)', input: [2, 14, 14, 64], filter: [4, 4, 64, 128], strides: 2, pad: 'same' },
  { label: 'conv 1->64 / deconv 64->1', input: [2, 28, 28, 1], filter: [4, 4, 1, 64], strides: 2, pad: 'same' },
  { label: 'quick conv 32->64', input: [2, 14, 14, 32], filter: [4, 4, 32, 64], strides: 2, pad: 'same' },
  { label: 'quick conv 1->32', input: [2, 28, 28, 1], filter: [4, 4, 1, 32], strides: 2, pad: 'same' },
  { label: "D's third conv 64->128 k3, 7x7 -> 4x4 (--d-layers 3, half width)", input: [2, 7, 7, 64], filter: [3, 3, 64, 128], strides: 2, pad: 'same' },
  { label: "G's 7x7 conv 64->64 k5 s1 (--g-layers 3, half width)", input: [2, 7, 7, 64], filter: [5, 5, 64, 64], strides: 1, pad: 'same' },
  { label: "D's 4x4 conv 128->128 k3 s1 (--d-layers 4-5, half width)", input: [2, 4, 4, 128], filter: [3, 3, 128, 128], strides: 1, pad: 'same' },
];

const ODD_CONVS: ConvCase[] = [
  { label: 'stride 3 same', input: [2, 10, 11, 3], filter: [4, 4, 3, 5], strides: 3, pad: 'same' },
  { label: 'stride 3 valid', input: [1, 13, 10, 2], filter: [4, 3, 2, 3], strides: 3, pad: 'valid' },
  { label: 'explicit asymmetric padding', input: [2, 9, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: [[0, 0], [1, 2], [0, 3], [0, 0]] },
  { label: 'batch 1, 1 channel, stride 1', input: [1, 7, 7, 1], filter: [3, 3, 1, 1], strides: 1, pad: 'same' },
  { label: 'non-square, kernel smaller than stride', input: [2, 8, 12, 2], filter: [2, 5, 2, 3], strides: 3, pad: 'valid' },
  { label: 'valid with unused trailing rows', input: [1, 12, 11, 2], filter: [4, 4, 2, 2], strides: 3, pad: 'valid' },
  { label: 'odd size, same, stride 2', input: [2, 29, 27, 2], filter: [4, 4, 2, 3], strides: 2, pad: 'same' },
  { label: '1x1 kernel', input: [2, 5, 6, 4], filter: [1, 1, 4, 3], strides: 1, pad: 'valid' },
  { label: 'unequal strides (stock path for the input gradient)', input: [2, 9, 10, 2], filter: [3, 3, 2, 2], strides: [2, 1], pad: 'same' },
];

// The same geometries with >= 8 dx channels, so Conv2DBackpropInput takes its per-phase path on
// them (and its packed path on the narrow ones above).
const WIDE_CONVS: ConvCase[] = ODD_CONVS.map((c) => ({
  ...c, label: `${c.label}, 9 channels`, input: [...c.input.slice(0, 3), 9], filter: [...c.filter.slice(0, 2), 9, c.filter[3]],
}));

const convAttrs = (c: ConvCase): tf.NamedAttrMap => ({ strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap);

test('Conv2DBackpropInput (conv2d dx, conv2dTranspose forward): preset and odd shapes', async () => {
  for (const c of [...PRESET_CONVS, ...ODD_CONVS, ...WIDE_CONVS]) {
    await compare(c.label, 'Conv2DBackpropInput', { dy: { shape: dyShape(c) }, filter: { shape: c.filter } },
      { ...convAttrs(c), inputShape: c.input });
  }
});

test('Conv2DBackpropFilter: odd shapes and the small preset shapes against the cpu kernel', async () => {
  for (const c of [...ODD_CONVS, ...PRESET_CONVS.slice(1)]) {
    await compare(c.label, 'Conv2DBackpropFilter', { x: { shape: c.input }, dy: { shape: dyShape(c) } },
      { ...convAttrs(c), filterShape: c.filter });
  }
});

test('Conv2DBackpropFilter: the 64 -> 128 preset shape at batch 1 (cpu kernel, about 2 s)', async () => {
  const c = { ...PRESET_CONVS[0], input: [1, 14, 14, 64] };
  await compare(c.label, 'Conv2DBackpropFilter', { x: { shape: c.input }, dy: { shape: dyShape(c) } }, { ...convAttrs(c), filterShape: c.filter });
});

test('the float64 Conv2DBackpropFilter reference used by step tests matches the cpu kernel', async () => {
  for (const c of [...ODD_CONVS, PRESET_CONVS[1]]) {
    const inputs = { x: { shape: c.input }, dy: { shape: dyShape(c) } };
    const attrs = { ...convAttrs(c), filterShape: c.filter };
    const stock = await runKernel('cpu', 'Conv2DBackpropFilter', inputs, attrs);
    useReferenceFilterGrad(true);
    const reference = await runKernel('cpu', 'Conv2DBackpropFilter', inputs, attrs);
    useReferenceFilterGrad(false);
    assert.ok(relErr(reference, stock) <= TOL, `${c.label}: reference vs cpu ${relErr(reference, stock)}`);
  }
});

test('Sum and Mean: batch-norm and bias-gradient reductions, keepDims, and the stock paths', async () => {
  const cases: [number[], number | number[], boolean][] = [
    [[4, 7, 7, 128], [0, 1, 2], false], [[4, 14, 14, 64], [0, 1, 2], true], [[4, 1024], 0, false], [[4, 1024], [0], true],
    [[3, 5, 7], [1, 0], false], [[9, 3], 0, false],
    // stock paths: wide outputs, inner axes, a full reduction
    [[4, 6272], 0, false], [[4, 7, 7, 8], [1, 2, 3], false], [[4, 7, 7, 8], [0, 2], true], [[6, 5], [0, 1], false],
  ];
  for (const kernel of ['Sum', 'Mean']) {
    for (const [shape, axis, keepDims] of cases) {
      await compare(`${shape} over ${axis} keepDims=${keepDims}`, kernel, { x: { shape } }, { axis, keepDims });
    }
  }
  await compare('int32 (stock path)', 'Sum', { x: { shape: [4, 6], dtype: 'int32' } }, { axis: 0, keepDims: false });
});

test('Identity and Cast to the same dtype share the buffer and stay valid after the input is disposed', async () => {
  await use('fast');
  const x = tf.tensor2d(values([3, 5], 4), [3, 5]);
  const expected = Float32Array.from(x.dataSync() as Float32Array);
  const ids = backendDataIds();
  const same = tf.engine().runKernel('Identity', { x }, {}) as tf.Tensor;
  const cast = tf.engine().runKernel('Cast', { x }, { dtype: 'float32' }) as tf.Tensor;
  assert.equal(backendDataIds(), ids, 'no new buffer');
  x.dispose();
  assert.deepEqual(same.dataSync(), expected);
  assert.deepEqual(cast.dataSync(), expected);
  same.dispose();
  assert.deepEqual(cast.dataSync(), expected);
  cast.dispose();
  assert.equal(backendDataIds(), ids - 1, 'the buffer is freed with its last tensor');
  await compare('int32 -> float32 (stock path)', 'Cast', { x: { shape: [4, 3], dtype: 'int32' } }, { dtype: 'float32' });
  await compare('float32 -> int32 (stock path)', 'Cast', { x: { shape: [4, 3] } }, { dtype: 'int32' });
});

test('cpu delegates for the kernels wasm lacks (stock mode): conv and depthwise gradients, UnsortedSegmentSum', async () => {
  const c = ODD_CONVS[2];
  await compare('Conv2DBackpropFilter', 'Conv2DBackpropFilter', { x: { shape: c.input }, dy: { shape: dyShape(c) } },
    { ...convAttrs(c), filterShape: c.filter }, 'stock');
  const dw = { strides: 2, pad: 'same', dilations: 1, dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
  // depthwise: x (2, 9, 8, 3), filter (3, 3, 3, 2), dy (2, 5, 4, 6)
  await compare('DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter',
    { x: { shape: [2, 9, 8, 3] }, dy: { shape: [2, 5, 4, 6] } }, { ...dw, filterShape: [3, 3, 3, 2] }, 'stock');
  await compare('DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropInput',
    { dy: { shape: [2, 5, 4, 6] }, filter: { shape: [3, 3, 3, 2] } }, { ...dw, inputShape: [2, 9, 8, 3] }, 'stock');
  await compare('UnsortedSegmentSum', 'UnsortedSegmentSum',
    { x: { shape: [6, 3] }, segmentIds: { shape: [6], dtype: 'int32', data: [0, 2, 1, 2, 3, 0] } }, { numSegments: 4 }, 'stock');
});
