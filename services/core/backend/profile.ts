// Where a step's time goes, kernel by kernel: runs a function under tf.profile and sums the
// kernel times by kernel name (or by name and input shapes), largest first. On wasm and cpu the
// profiler times each kernel synchronously, reading its outputs, so totals are wall-clock
// time inside kernels; the rest of `wallMs` is JavaScript outside them (the tape, tidy, shape
// checks) plus the profiler's own reads.
import { tf } from '../tf.ts';

export interface KernelTotal {
  /** Kernel name, or `name (shape; shape)` when grouped by shapes. */
  name: string;
  ms: number;
  count: number;
}

export interface KernelProfile {
  backend: string;
  /** Wall time of the whole call under the profiler. */
  wallMs: number;
  /** Sum of all kernel times. */
  kernelMs: number;
  kernels: KernelTotal[];
  /** Tensors the function left allocated (should be 0 for a step that cleans up). */
  newTensors: number;
}

export interface ProfileOptions {
  /** 'name' (default) or 'shapes': also split by input shapes. */
  groupBy?: 'name' | 'shapes';
}

function keyOf(k: { name: string; inputShapes: (number[] | null)[] }, groupBy: 'name' | 'shapes'): string {
  if (groupBy === 'name') return k.name;
  return `${k.name} (${k.inputShapes.map((s) => (s == null ? '-' : `[${s.join(',')}]`)).join('; ')})`;
}

/** Sorts per-kernel totals by time, descending (ties by count, then name). */
export function sortTotals(totals: Iterable<KernelTotal>): KernelTotal[] {
  return [...totals].sort((a, b) => b.ms - a.ms || b.count - a.count || a.name.localeCompare(b.name));
}

/** Runs `f` once under tf.profile inside tf.tidy; its result and intermediates are disposed. */
export async function profileKernels(f: () => tf.TensorContainer | void, opts: ProfileOptions = {}): Promise<KernelProfile> {
  const groupBy = opts.groupBy ?? 'name';
  const start = performance.now();
  const info = await tf.profile(() => tf.tidy(() => f() ?? []));
  const wallMs = performance.now() - start;
  tf.dispose(info.result);
  const totals = new Map<string, KernelTotal>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = keyOf(k, groupBy);
    const t = totals.get(key) ?? { name: key, ms: 0, count: 0 };
    t.ms += ms;
    t.count += 1;
    totals.set(key, t);
  }
  const kernels = sortTotals(totals.values());
  const kernelMs = kernels.reduce((s, k) => s + k.ms, 0);
  return { backend: tf.getBackend(), wallMs, kernelMs, kernels, newTensors: info.newTensors };
}

/** A short table of the top `n` kernels, for logs and bench output. */
export function formatProfile(p: KernelProfile, n = 12): string {
  const lines = p.kernels.slice(0, n).map((k) =>
    `${k.ms.toFixed(2).padStart(9)} ms ${String(k.count).padStart(5)}x  ${(100 * k.ms / Math.max(p.kernelMs, 1e-9)).toFixed(1).padStart(5)}%  ${k.name}`);
  return [`${p.backend}: ${p.kernelMs.toFixed(1)} ms in kernels, ${p.wallMs.toFixed(1)} ms wall`, ...lines].join('\n');
}
