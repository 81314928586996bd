// Errors of backend selection and of gantry's wasm kernels.

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
