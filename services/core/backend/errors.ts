// Errors of backend selection and of gantry's wasm kernels.
import { SettingError } from '../../env/errors.ts';

/** An explicitly requested backend could not be loaded or activated. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(
    readonly backend: string,
    readonly packageName: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`backend '${backend}' (npm package ${packageName}) is unavailable: ${reason}`, options);
  }
}

/** GANTRY_WASM_KERNELS (or the equivalent option) names something that is not a fast kernel. */
export class WasmKernelSettingError extends Error {
  override name = 'WasmKernelSettingError';
}

/** initBackend was given a name outside BACKEND_CHOICES. */
export class UnknownBackendError extends Error {
  override name = 'UnknownBackendError';
}

/** GANTRY_WASM_THREADS (or InitBackendOptions.wasmThreads) is not an integer in the allowed range. */
export class WasmThreadsSettingError extends SettingError {
  override name = 'WasmThreadsSettingError';
}

/**
 * A wasm worker thread (wasm-parallel/) failed a split kernel: it threw, stopped, or did not answer.
 * `kernel` is the tfjs kernel whose share it was running ('' for start-up and control jobs).
 */
export class WasmWorkerError extends Error {
  override name = 'WasmWorkerError';
  constructor(
    readonly kernel: string,
    readonly worker: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`wasm worker ${worker}${kernel ? ` running its share of ${kernel}` : ''}: ${reason}`, options);
  }
}
