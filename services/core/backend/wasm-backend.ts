// What gantry's wasm kernels rely on from the wasm backend, and how they call other kernels.
// A kernel composed of other kernels calls their kernel functions directly (as the wasm backend's
// own kernels do): no engine, no tape, no tensor bookkeeping. The intermediates are bare
// TensorInfos owned by the backend and must be released with `release`.
import { tf } from '../tf.ts';

/** The parts of tfjs-backend-wasm's BackendWasm used here (structural: no second import). */
export interface WasmBackend {
  readSync(dataId: tf.DataId): tf.BackendValues;
  /** Allocates on the wasm heap; `values`, when given, are copied in. */
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: tf.BackendValues): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  /** A view of the tensor's bytes on the heap, valid until the heap grows. */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  wasm: { tfjs: { getThreadsCount(): number } };
  dataIdMap: { has(dataId: tf.DataId): boolean };
}

export type Attrs = tf.NamedAttrMap;

// Kernels gantry replaces keep their previous config here, so composed kernels can still call
// the stock version and 'stock' mode can put it back.
const replaced = new Map<string, tf.KernelConfig>();

export function rememberStock(config: tf.KernelConfig): void {
  if (!replaced.has(config.kernelName)) replaced.set(config.kernelName, config);
}

export function stockConfig(kernelName: string): tf.KernelConfig | undefined {
  return replaced.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
}

/** Runs the stock wasm kernel `name` on bare TensorInfos; the caller owns the result. */
export function call(backend: WasmBackend, name: string, inputs: tf.NamedTensorInfoMap, attrs: Attrs = {}): tf.TensorInfo {
  const config = stockConfig(name);
  if (config == null) throw new Error(`wasm-backend.ts: no wasm kernel '${name}' is registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  return Array.isArray(out) ? out[0] : out;
}

/** Runs whichever wasm kernel `name` is registered now (gantry's fast one if installed). */
export function callActive(backend: WasmBackend, name: string, inputs: tf.NamedTensorInfoMap, attrs: Attrs = {}): tf.TensorInfo {
  const config = tf.getKernel(name, 'wasm');
  if (config == null) throw new Error(`wasm-backend.ts: no wasm kernel '${name}' is registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  return Array.isArray(out) ? out[0] : out;
}

export function release(backend: WasmBackend, ...infos: tf.TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

export function reshape(backend: WasmBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return call(backend, 'Reshape', { x }, { shape });
}

/** With the Transpose kernel in use (the cache-blocked one unless switched off). */
export function transpose(backend: WasmBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return callActive(backend, 'Transpose', { x }, { perm });
}

/** A new float32 tensor on the heap and a view to fill it (fill before any other allocation). */
export function allocate(backend: WasmBackend, shape: number[]): { info: tf.TensorInfo; data: Float32Array } {
  const info = backend.makeOutput(shape, 'float32');
  return { info, data: backend.typedArrayFromHeap(info) as Float32Array };
}

export function heapF32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function isWasmBackend(b: unknown): b is WasmBackend {
  const w = b as Partial<WasmBackend> | null;
  return w != null && typeof w.typedArrayFromHeap === 'function' && typeof w.makeOutput === 'function';
}
