// How many threads the wasm backend computes on: GANTRY_WASM_THREADS or InitBackendOptions.wasmThreads.
//   unset or ''   min(2, os.availableParallelism())
//   1             the main thread only (no workers)
//   2..16         the main thread + N-1 worker threads for the big kernels (split-kernels.ts)
// More than two threads only pays on machines with more cores: the default stops at 2 because
// every gantry process on a shared 2-core machine would otherwise fight for the same cores.
// The bounds and the meaning are the variable's (services/env/variables.ts).
import os from 'node:os';
import { ENV_VARS, SettingError, parseInteger } from '../../../env/mod.ts';
import { WasmThreadsSettingError } from '../errors.ts';

const THREADS = ENV_VARS.GANTRY_WASM_THREADS;
export const MIN_WASM_THREADS = THREADS.min;
export const MAX_WASM_THREADS = THREADS.max;

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
  try {
    return parseInteger(text, { setting: source, min: MIN_WASM_THREADS, max: MAX_WASM_THREADS, meaning: THREADS.meaning });
  } catch (e) {
    if (e instanceof SettingError) throw new WasmThreadsSettingError(e.detail, { cause: e });
    throw e;
  }
}
