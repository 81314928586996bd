// How many threads the wasm backend computes on: GANTRY_WASM_THREADS or InitBackendOptions.wasmThreads.
//   unset or ''   min(2, os.availableParallelism())
//   1             the main thread only (no workers)
//   2..16         the main thread + N-1 worker threads for the big kernels (split-kernels.ts)
// More than two threads only pays on machines with more cores: the default stops at 2 because
// every gantry process on a shared 2-core machine would otherwise fight for the same cores.
import os from 'node:os';
import { WasmThreadsSettingError } from '../errors.ts';

export const MIN_WASM_THREADS = 1;
export const MAX_WASM_THREADS = 16;

export function defaultWasmThreads(): number {
  return Math.max(MIN_WASM_THREADS, Math.min(2, os.availableParallelism()));
}

/**
 * The thread count from an option (number) or the environment variable's text; `source` names
 * where it came from in the error message.
 */
export function parseWasmThreads(value: number | string | undefined, source: string): number {
  if (value === undefined) return defaultWasmThreads();
  const text = String(value).trim();
  if (text === '') return defaultWasmThreads();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < MIN_WASM_THREADS || n > MAX_WASM_THREADS) {
    throw new WasmThreadsSettingError(`${source}: expected an integer from ${MIN_WASM_THREADS} to ${MAX_WASM_THREADS} ` +
      `(threads the wasm backend computes on, main thread included); found '${text}'`);
  }
  return n;
}
