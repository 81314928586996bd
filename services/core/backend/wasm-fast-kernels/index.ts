// gantry's faster wasm kernels: which exist, how GANTRY_WASM_KERNELS switches them, and how they
// replace (and give back) the stock kernels. Each kernel lives in its own file and is composed of
// stock wasm kernels (XNNPACK convolutions and matrix multiplies) plus, where that is cheaper, a
// loop over the wasm heap.
//
// GANTRY_WASM_KERNELS (or InitBackendOptions.wasmKernels):
//   unset, '' or 'fast'   every fast kernel below
//   'stock'               none: the wasm backend's own kernels (and the cpu delegates)
//   'A,B'                 every fast kernel except A and B (names as in FAST_KERNEL_NAMES)
import { tf } from '../../tf.ts';
import { WasmKernelSettingError } from '../errors.ts';
import { rememberStock } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';
import { batchMatMulKernel } from './batch-mat-mul.ts';
import { conv2DBackpropInputKernel } from './conv2d-backprop-input.ts';
import { conv2DBackpropFilterKernel } from './conv2d-backprop-filter.ts';
import { sumKernel } from './sum.ts';
import { meanKernel } from './mean.ts';
import { identityKernel } from './identity.ts';
import { castKernel } from './cast.ts';
import { adamKernel } from './adam.ts';

const FAST_KERNELS: readonly FastKernel[] = [
  batchMatMulKernel,
  conv2DBackpropInputKernel,
  conv2DBackpropFilterKernel,
  sumKernel,
  meanKernel,
  identityKernel,
  castKernel,
  adamKernel,
];

export const FAST_KERNEL_NAMES: readonly string[] = FAST_KERNELS.map((k) => k.kernelName);

export interface WasmKernelSetting {
  /** Fast kernels switched off. */
  readonly disabled: ReadonlySet<string>;
}

export function parseWasmKernelSetting(value: string | undefined): WasmKernelSetting {
  const text = (value ?? '').trim();
  if (text === '' || text === 'fast') return { disabled: new Set() };
  if (text === 'stock') return { disabled: new Set(FAST_KERNEL_NAMES) };
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !FAST_KERNEL_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new WasmKernelSettingError(`GANTRY_WASM_KERNELS: expected 'fast', 'stock' or a comma list of kernels to ` +
      `disable from ${FAST_KERNEL_NAMES.join(', ')}; found unknown ${unknown.map((n) => `'${n}'`).join(', ')}`);
  }
  return { disabled: new Set(names) };
}

const installed = new Set<string>();
const stock = new Map<string, tf.KernelConfig | undefined>();

function install(k: FastKernel): void {
  const current = tf.getKernel(k.kernelName, 'wasm');
  stock.set(k.kernelName, current);
  if (current != null) {
    rememberStock(current);
    tf.unregisterKernel(k.kernelName, 'wasm');
  }
  // The stock setup (binding wasm functions) still has to run if the backend is re-created.
  tf.registerKernel({ kernelName: k.kernelName, backendName: 'wasm', kernelFunc: k.kernelFunc, setupFunc: current?.setupFunc });
  installed.add(k.kernelName);
}

function uninstall(k: FastKernel): void {
  tf.unregisterKernel(k.kernelName, 'wasm');
  const previous = stock.get(k.kernelName);
  if (previous != null) tf.registerKernel(previous);
  installed.delete(k.kernelName);
}

/** Makes the registry match `setting`; idempotent. Returns the fast kernels now in use. */
export function applyWasmKernels(setting: WasmKernelSetting): string[] {
  for (const k of FAST_KERNELS) {
    const want = !setting.disabled.has(k.kernelName);
    if (want && !installed.has(k.kernelName)) install(k);
    if (!want && installed.has(k.kernelName)) uninstall(k);
  }
  return FAST_KERNEL_NAMES.filter((n) => installed.has(n));
}
