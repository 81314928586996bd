// A multi-threaded wasm backend for Node, where tfjs' own threaded build does not start: a pool
// of worker threads (pool.ts), each with its own single-threaded wasm backend and gantry's
// kernels, and split versions of the big kernels registered for 'wasm' in place of (wrapping)
// the one-thread kernels. A split kernel runs only when the call is big enough to beat the
// hand-off (split-kernel.ts) and, measured call by call, faster than one thread on this machine
// now (split-governor.ts), else the wrapped kernel runs unchanged.
//
// Order at backend init (select.ts): removeSplitKernels, then the fast kernels are applied, then
// startWasmThreads and installSplitKernels; stopWasmThreads when the backend leaves wasm.
import { tf } from '../../tf.ts';
import { rememberStock, type WasmBackend } from '../wasm-backend.ts';
import { WasmWorkerPool } from './pool.ts';
import { conv2DBackpropInputSplit, conv2DSplit } from './split-conv.ts';
import { conv2DBackpropFilterSplit } from './split-filter-grad.ts';
import { callSignature, SplitGovernor } from './split-governor.ts';
import type { SplitKernel } from './split-kernel.ts';
import { batchMatMulSplit } from './split-mat-mul.ts';
import { runSplit } from './split-run.ts';

export { WasmWorkerPool } from './pool.ts';
export { defaultWasmThreads, parseWasmThreads, MAX_WASM_THREADS, MIN_WASM_THREADS } from './settings.ts';

const SPLIT_KERNELS: readonly SplitKernel[] = [conv2DSplit, conv2DBackpropInputSplit, conv2DBackpropFilterSplit, batchMatMulSplit];

export const SPLIT_KERNEL_NAMES: readonly string[] = SPLIT_KERNELS.map((k) => k.kernelName);

let pool: WasmWorkerPool | null = null;
const governor = new SplitGovernor();
/** The kernel each installed split kernel wraps, to give back. */
const wrapped = new Map<string, tf.KernelConfig>();

/** The pool the split kernels use, or null when the wasm backend runs on one thread. */
export function wasmThreadPool(): WasmWorkerPool | null {
  return pool;
}

/**
 * Makes `threads` threads available (threads - 1 workers running `wasmKernels`, the normalized
 * GANTRY_WASM_KERNELS setting); reuses a healthy pool of the same shape. Returns the thread count.
 */
export async function startWasmThreads(threads: number, wasmKernels: string): Promise<number> {
  if (pool != null && pool.broken == null && pool.threads === threads && pool.wasmKernels === wasmKernels) return threads;
  stopWasmThreads();
  governor.reset();
  if (threads > 1) pool = await WasmWorkerPool.start(threads, wasmKernels);
  return threads;
}

/** Gives the one-thread kernels back and stops the workers (they are unref()ed either way). */
export function stopWasmThreads(): void {
  removeSplitKernels();
  pool?.dispose();
  pool = null;
}

function wrap(k: SplitKernel, inner: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = (args) => {
    const p = pool;
    if (p == null || p.running) return inner.kernelFunc(args);
    // A plan has no cost the one-thread kernel would not pay too (the cached Wᵀ is the same).
    const plan = k.plan(args, p.threads);
    if (plan == null || plan.shares.length < 2) return inner.kernelFunc(args);
    const signature = callSignature(k.kernelName, args.inputs as Record<string, tf.TensorInfo>, args.attrs);
    const split = governor.choose(signature);
    const start = performance.now();
    const out = split ? runSplit(args.backend as WasmBackend, p, inner.kernelFunc, plan) : inner.kernelFunc(args);
    governor.record(signature, split, performance.now() - start);
    return out;
  };
  return { kernelName: k.kernelName, backendName: 'wasm', kernelFunc, setupFunc: inner.setupFunc };
}

/** The split governor's running means, signature -> [one thread ms, split ms] (logs, benchmarks). */
export function splitTimings(): Map<string, [number, number]> {
  return governor.snapshot();
}

/** Forgets every measured time, so that each big call is split again until re-measured (tests). */
export function resetSplitTimings(): void {
  governor.reset();
}

/**
 * Wraps the kernels registered for 'wasm' now in their split versions, except those named in
 * `disabled` (GANTRY_WASM_KERNELS: a kernel switched off is tfjs' own, on one thread); idempotent.
 */
export function installSplitKernels(disabled: ReadonlySet<string> = new Set()): string[] {
  for (const k of SPLIT_KERNELS) {
    if (wrapped.has(k.kernelName) || disabled.has(k.kernelName)) continue;
    const inner = tf.getKernel(k.kernelName, 'wasm');
    if (inner == null) continue;
    // Composed kernels call the stock kernel by name (wasm-backend.ts `call`); it must not be a
    // split kernel, or a share would try to split again.
    rememberStock(inner);
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel(wrap(k, inner));
    wrapped.set(k.kernelName, inner);
  }
  return SPLIT_KERNEL_NAMES.filter((n) => wrapped.has(n));
}

export function removeSplitKernels(): void {
  for (const [name, inner] of wrapped) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(inner);
  }
  wrapped.clear();
}
