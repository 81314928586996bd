// gantry's fast wasm kernels against the stock ones, one kernel call at a time on the shapes the
// presets produce at batch 64, then the per-kernel profile of one training step of each preset
// on wasm + fast kernels (where the rest of the time goes), all on one thread: the split
// kernels of wasm-parallel/ are measured by the backends bench (mode fast2).
// Inputs are fresh tensors for every call (a weight changes after every update, so XNNPACK's
// per-buffer operator cache never helps the first use of a new value). The stock
// Conv2DBackpropFilter is the cpu delegate: it is timed once at batch 1 and scaled to batch 64.
// Last, the per-preset step table of bench/backends.ts (cpu, stock wasm, fast, fast2, PyTorch),
// under "steps" in the JSON (--no-steps skips it).
// Usage: node --import tsx bench/kernels.ts [--n 7] [--batch 64] [--no-profile] [--profile-only] [--no-steps]
// Prints lines on stderr and one JSON object as the last stdout line.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tf } from '../services/core/tf.ts';
import { initBackend } from '../services/core/backend/select.ts';
import { presetStep, PRESETS } from '../services/core/backend/preset-steps.ts';
import { profileKernels } from '../services/core/backend/profile.ts';
import { describeMachine, parseArgs, round, timeRuns } from '../services/core/backend/timing.ts';
import { clearTransposedCache } from '../services/core/backend/wasm-fast-kernels/transposed-cache.ts';

interface Case {
  kernel: string;
  label: string;
  inputs: Record<string, number[]>;
  attrs: Record<string, unknown>;
  /** Batch at which the stock kernel is timed (then scaled), when it is too slow at full size. */
  stockBatch?: number;
}

// Every dense layer (in, out) of the presets (services/core/models/), deduplicated.
const DENSE: [number, number][] = [[100, 256], [256, 512], [512, 784], [784, 512], [512, 256], [100, 6272],
  [6272, 1], [62, 1024], [1024, 6272], [6272, 1024], [1024, 10], [3136, 128], [128, 10]];

// 'same' k4 s2 convolutions: conv input (B, H, W, ci) and filter (4, 4, ci, co).
const CONVS: { label: string; x: number[]; f: number[] }[] = [
  { label: 'conv 64->128 / deconv 128->64', x: [14, 14, 64], f: [4, 4, 64, 128] },
  { label: 'conv 1->64 / deconv 64->1', x: [28, 28, 1], f: [4, 4, 1, 64] },
  { label: 'quick conv 32->64', x: [14, 14, 32], f: [4, 4, 32, 64] },
  { label: 'quick conv 1->32', x: [28, 28, 1], f: [4, 4, 1, 32] },
];

function cases(b: number): Case[] {
  const out: Case[] = [];
  for (const [k, n] of DENSE) {
    out.push({ kernel: 'BatchMatMul', label: `x·W ${b}x${k} · ${k}x${n}`, inputs: { a: [b, k], b: [k, n] }, attrs: { transposeA: false, transposeB: false } });
    out.push({ kernel: 'BatchMatMul', label: `dy·Wᵀ ${b}x${n} · (${k}x${n})ᵀ`, inputs: { a: [b, n], b: [k, n] }, attrs: { transposeA: false, transposeB: true } });
    out.push({ kernel: 'BatchMatMul', label: `xᵀ·dy (${b}x${k})ᵀ · ${b}x${n}`, inputs: { a: [b, k], b: [b, n] }, attrs: { transposeA: true, transposeB: false } });
  }
  for (const c of CONVS) {
    const y = [b, c.x[0] / 2, c.x[1] / 2, c.f[3]];
    const conv = { strides: 2, pad: 'same', dataFormat: 'NHWC' };
    out.push({ kernel: 'Conv2DBackpropInput', label: c.label, inputs: { dy: y, filter: c.f }, attrs: { ...conv, inputShape: [b, ...c.x] } });
    out.push({ kernel: 'Conv2DBackpropFilter', label: c.label, inputs: { x: [b, ...c.x], dy: y }, attrs: { ...conv, filterShape: c.f }, stockBatch: 1 });
  }
  out.push({ kernel: 'Transpose', label: 'weight 6272x1024', inputs: { x: [6272, 1024] }, attrs: { perm: [1, 0] } });
  out.push({ kernel: 'Transpose', label: `activations ${b}x14x14x64 -> (64,14,14,${b})`, inputs: { x: [b, 14, 14, 64] }, attrs: { perm: [3, 1, 2, 0] } });
  out.push({ kernel: 'Sum', label: `batch-norm statistic ${b}x7x7x128 over (0,1,2)`, inputs: { x: [b, 7, 7, 128] }, attrs: { axis: [0, 1, 2], keepDims: false } });
  out.push({ kernel: 'Sum', label: `bias gradient ${b}x6272 over 0`, inputs: { x: [b, 6272] }, attrs: { axis: [0], keepDims: false } });
  out.push({ kernel: 'Mean', label: `batch-norm mean ${b}x14x14x64 keepDims`, inputs: { x: [b, 14, 14, 64] }, attrs: { axis: [0, 1, 2], keepDims: true } });
  out.push({ kernel: 'Identity', label: `${b}x14x14x64`, inputs: { x: [b, 14, 14, 64] }, attrs: {} });
  out.push({ kernel: 'Cast', label: `float32 -> float32 ${b}x14x14x64`, inputs: { x: [b, 14, 14, 64] }, attrs: { dtype: 'float32' } });
  return out;
}

function withBatch(c: Case, b: number): Case {
  // Only convolution cases are re-batched: every input but the filter leads with the batch.
  const scale = (s: number[], key: string): number[] => (key === 'filter' ? s : [b, ...s.slice(1)]);
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, s]) => [k, scale(s, k)]));
  const attrs = { ...c.attrs };
  if (Array.isArray(attrs.inputShape)) attrs.inputShape = [b, ...(attrs.inputShape as number[]).slice(1)];
  return { ...c, inputs, attrs };
}

function timeCase(c: Case, n: number): { ms: number; min: number; n: number } {
  const shapes = Object.entries(c.inputs);
  const base = shapes.map(([, s]) => tf.randomNormal(s, 0, 1, 'float32', 5));
  try {
    return timeRuns((inputs: tf.NamedTensorMap) => { (tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor).dispose(); }, {
      n, warmup: n > 1 ? 1 : 0,
      prepare: () => Object.fromEntries(shapes.map(([k], i) => [k, tf.add(base[i], 0)])),
      cleanup: (inputs) => { tf.dispose(Object.values(inputs)); clearTransposedCache(); },
    });
  } finally {
    tf.dispose(base);
  }
}

async function kernelTable(batch: number, n: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const list = cases(batch);
  await initBackend('wasm', undefined, { wasmKernels: 'stock' });
  const stock = list.map((c) => {
    if (c.stockBatch == null) return { ...timeCase(c, n) };
    const t = timeCase(withBatch(c, c.stockBatch), 1);
    return { ...t, measuredAtBatch: c.stockBatch, ms: round((t.ms * batch) / c.stockBatch, 1) };
  });
  await initBackend('wasm', undefined, { wasmKernels: 'fast', wasmThreads: 1 });
  list.forEach((c, i) => {
    const fast = timeCase(c, n);
    const row = { kernel: c.kernel, shape: c.label, stockMs: stock[i].ms, fastMs: fast.ms, speedup: round(stock[i].ms / fast.ms, 1),
      ...('measuredAtBatch' in stock[i] ? { stockMeasuredAtBatch: stock[i].measuredAtBatch } : {}) };
    rows.push(row);
    process.stderr.write(`${c.kernel.padEnd(21)} ${c.label.padEnd(44)} stock ${String(row.stockMs).padStart(9)} ms  fast ${String(row.fastMs).padStart(8)} ms  x${row.speedup}\n`);
  });
  return rows;
}

async function profiles(batch: number): Promise<Record<string, unknown>> {
  await initBackend('wasm', undefined, { wasmKernels: 'fast', wasmThreads: 1 });
  const out: Record<string, unknown> = {};
  for (const preset of PRESETS) {
    const step = presetStep(preset, batch);
    step.run();
    const p = await profileKernels(() => step.run());
    step.dispose();
    out[preset] = { wallMs: round(p.wallMs, 1), kernelMs: round(p.kernelMs, 1),
      top: p.kernels.slice(0, 12).map((k) => ({ name: k.name, ms: round(k.ms, 1), count: k.count })) };
    process.stderr.write(`\n${preset}: ${round(p.kernelMs, 1)} ms in kernels, ${round(p.wallMs, 1)} ms wall\n`);
    for (const k of p.kernels.slice(0, 12)) process.stderr.write(`  ${k.ms.toFixed(1).padStart(8)} ms ${String(k.count).padStart(4)}x  ${k.name}\n`);
  }
  return out;
}

/**
 * ms per training step of every preset on cpu, stock wasm, wasm + fast kernels (1 and 2 threads)
 * and PyTorch: bench/backends.ts, run as its own process (a fresh backend) and embedded here.
 */
function stepTable(batch: number, n: number): unknown {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./backends.ts', import.meta.url)),
    '--modes', 'cpu,stock,fast,fast2,torch', '--batch', String(batch), '--n', String(n)],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(last) as { results: unknown }).results;
  } catch {
    return { error: `bench/backends.ts failed (status ${r.status})` };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { n: 'value', batch: 'value', 'no-profile': 'flag', 'profile-only': 'flag', 'no-steps': 'flag' });
  const n = Number(args.get('n') ?? 7);
  const batch = Number(args.get('batch') ?? 64);
  const machine = describeMachine();
  const kernels = args.has('profile-only') ? [] : await kernelTable(batch, n);
  const profile = args.has('no-profile') ? {} : await profiles(batch);
  const steps = args.has('no-steps') || args.has('profile-only') ? {} : stepTable(batch, n);
  console.log(JSON.stringify({ bench: 'kernels', machine, batch, n, kernels, profiles: profile, steps }));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/kernels.ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
