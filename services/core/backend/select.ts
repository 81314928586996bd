// Choosing the TensorFlow.js backend a process trains on, and saying what it really runs on.
// 'auto' tries, in order: @tensorflow/tfjs-node-gpu (libtensorflow with CUDA), @tensorflow/tfjs-node
// (libtensorflow on the CPU), wasm (XNNPACK; one thread under Node, plus worker threads for the big
// kernels: wasm-parallel/) and the plain-JS cpu backend.
// The two native packages are optionalDependencies that fail to install without internet, so
// they are imported dynamically. tfjs-node-gpu without CUDA 11.2 / cuDNN 8.1 either fails to load
// or silently computes on the CPU; the second case is detected and reported in `device`.
import { execFileSync } from 'node:child_process';
import { tf } from '../tf.ts';
import type { Logger } from '../../telemetry/log.ts';
import { BackendUnavailableError, UnknownBackendError } from './errors.ts';
import { registerComparisonGradients } from './gradients.ts';
import { registerWasmGradKernels } from './wasm-grad-kernels.ts';
import { applyWasmKernels, parseWasmKernelSetting, type WasmKernelSetting } from './wasm-fast-kernels/index.ts';
import { installSplitKernels, parseWasmThreads, removeSplitKernels, startWasmThreads, stopWasmThreads } from './wasm-parallel/index.ts';

import { BACKEND_CHOICES, type BackendChoice } from '../catalog.ts';
import { readEnv } from '../../env/mod.ts';

export { BACKEND_CHOICES, type BackendChoice };
export type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

export interface BackendAttempt {
  backend: ConcreteBackend;
  error: string;
}

export interface BackendInfo {
  requested: BackendChoice;
  /** tf.getBackend() after selection. */
  name: 'tensorflow' | 'wasm' | 'cpu';
  /** The npm package that provided the backend. */
  package: string;
  /** What the math really runs on, e.g. 'GPU: NVIDIA H200' or 'CPU (wasm SIMD, 2 threads)'. */
  device: string;
  /** Whether gantry's fast wasm kernels are registered ('n/a' off wasm). */
  kernels: 'fast' | 'stock' | 'n/a';
  /** The fast wasm kernels in use (empty off wasm or in 'stock' mode). */
  fastKernels: string[];
  /** The backends 'auto' tried before this one, and why each failed. */
  tried: BackendAttempt[];
  /** wasm only: threads computing (the main thread + workers running the split kernels). */
  wasmThreads?: number;
}

export interface InitBackendOptions {
  /** 'fast' (default), 'stock', or a comma list of fast kernels to disable; see wasm-fast-kernels/. */
  wasmKernels?: string;
  /**
   * Threads the wasm backend computes on, 1..16 (default GANTRY_WASM_THREADS, else
   * min(2, os.availableParallelism())); 1 = no workers. Ignored (1) with 'stock' kernels.
   */
  wasmThreads?: number;
  /** How a native package is imported; a seam for tests. */
  importModule?: (specifier: string) => Promise<unknown>;
}

export const BACKEND_PACKAGES: Record<ConcreteBackend, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

type Activated = Omit<BackendInfo, 'requested' | 'tried'> & { warning?: string };

function reason(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

async function switchTo(name: string, backend: ConcreteBackend): Promise<void> {
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendUnavailableError(backend, BACKEND_PACKAGES[backend], `tf.setBackend('${name}') threw: ${reason(e)}`, { cause: e });
  }
  if (!ok || tf.getBackend() !== name) {
    throw new BackendUnavailableError(backend, BACKEND_PACKAGES[backend],
      `tf.setBackend('${name}') failed to initialize it (tfjs printed the cause above)`);
  }
}

/** The GPU's name from nvidia-smi, or null when it cannot say. */
function gpuName(): string | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { timeout: 5000, encoding: 'utf8' });
    return out.split('\n')[0].trim() || null;
  } catch {
    return null;
  }
}

/** Device text for a libtensorflow backend; `warning` when tfjs-node-gpu fell back to the CPU. */
export function describeNativeDevice(gpuPackage: boolean, usingGpu: boolean, name: string | null): { device: string; warning?: string } {
  if (!gpuPackage) return { device: 'CPU (libtensorflow)' };
  if (usingGpu) return { device: name ? `GPU: ${name}` : 'GPU' };
  return {
    device: 'CPU (libtensorflow; tfjs-node-gpu found no usable GPU)',
    warning: 'tfjs-node-gpu loaded but computes on the CPU: CUDA 11.2 and cuDNN 8.1 libraries were not found or no GPU is visible',
  };
}

async function activateNative(backend: 'tensorflow-gpu' | 'tensorflow', importModule: (s: string) => Promise<unknown>): Promise<Activated> {
  const pkg = BACKEND_PACKAGES[backend];
  try {
    await importModule(pkg);
  } catch (e) {
    throw new BackendUnavailableError(backend, pkg, `import failed: ${reason(e)}`, { cause: e });
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    throw new BackendUnavailableError(backend, pkg,
      "it loaded but registered no 'tensorflow' backend with gantry's copy of @tensorflow/tfjs (two tfjs-core installs?)");
  }
  await switchTo('tensorflow', backend);
  const native = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
  const gpu = backend === 'tensorflow-gpu';
  const usingGpu = native.isUsingGpuDevice === true;
  const { device, warning } = describeNativeDevice(gpu, usingGpu, gpu && usingGpu ? gpuName() : null);
  return { name: 'tensorflow', package: pkg, device, kernels: 'n/a', fastKernels: [], warning };
}

/** The setting as the workers get it: their kernels must be the main thread's. */
function kernelSettingText(setting: WasmKernelSetting): string {
  return setting.disabled.size === 0 ? 'fast' : [...setting.disabled].sort().join(',');
}

/** Starts the workers; a failure with the default thread count falls back to one thread. */
async function startThreads(threads: WasmThreads, setting: WasmKernelSetting): Promise<{ used: number; warning?: string }> {
  try {
    return { used: await startWasmThreads(threads.count, kernelSettingText(setting)) };
  } catch (e) {
    stopWasmThreads();
    if (threads.explicit) throw new BackendUnavailableError('wasm', BACKEND_PACKAGES.wasm, `${threads.count} threads: ${reason(e)}`, { cause: e });
    return { used: 1, warning: `wasm worker threads did not start, computing on one thread: ${reason(e)}` };
  }
}

async function activateWasm(setting: WasmKernelSetting, threads: WasmThreads): Promise<Activated> {
  removeSplitKernels();
  registerWasmGradKernels();
  const fastKernels = applyWasmKernels(setting);
  await switchTo('wasm', 'wasm');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const perModule = (tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount();
  // 'stock' means tfjs' own kernels only, so no split kernels and no workers either.
  const { used, warning } = await startThreads({ ...threads, count: fastKernels.length > 0 ? threads.count : 1 }, setting);
  if (used > 1) installSplitKernels(setting.disabled);
  const total = perModule * used;
  const device = `CPU (wasm${simd ? ' SIMD' : ''}, ${total} thread${total === 1 ? '' : 's'})`;
  return {
    name: 'wasm', package: BACKEND_PACKAGES.wasm, device, kernels: fastKernels.length > 0 ? 'fast' : 'stock', fastKernels,
    wasmThreads: total, warning,
  };
}

interface WasmThreads {
  count: number;
  /** Asked for (option or GANTRY_WASM_THREADS) rather than the default. */
  explicit: boolean;
}

async function activate(backend: ConcreteBackend, setting: WasmKernelSetting, threads: WasmThreads, opts: InitBackendOptions): Promise<Activated> {
  switch (backend) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return activateNative(backend, opts.importModule ?? ((s) => import(s)));
    case 'wasm':
      return activateWasm(setting, threads);
    case 'cpu':
      await switchTo('cpu', 'cpu');
      // tfjs prints its own "install tfjs-node" banner on first use; the warning below says it in the log.
      (tf.engine().findBackend('cpu') as unknown as { firstUse?: boolean }).firstUse = false;
      return {
        name: 'cpu', package: BACKEND_PACKAGES.cpu, device: 'CPU (JS)', kernels: 'n/a', fastKernels: [],
        warning: "the plain-JavaScript 'cpu' backend is 5-1000x slower than 'wasm' (the exact reference the tests compare against); use --backend wasm or auto to train",
      };
  }
}

function threadSetting(opts: InitBackendOptions): WasmThreads {
  if (opts.wasmThreads !== undefined) return { count: parseWasmThreads(opts.wasmThreads, 'InitBackendOptions.wasmThreads'), explicit: true };
  const env = readEnv('GANTRY_WASM_THREADS');
  return { count: parseWasmThreads(env, 'GANTRY_WASM_THREADS'), explicit: (env ?? '').trim() !== '' };
}

/**
 * Selects and initializes the tfjs backend. An explicit choice that cannot load throws
 * BackendUnavailableError naming the package and the cause; 'auto' falls through AUTO_ORDER and
 * records each failure in `tried`.
 */
export async function initBackend(choice: BackendChoice, log?: Logger, opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new UnknownBackendError(`initBackend: backend must be one of ${BACKEND_CHOICES.join(', ')}; got '${String(choice)}'`);
  }
  const setting = parseWasmKernelSetting(opts.wasmKernels ?? readEnv('GANTRY_WASM_KERNELS'));
  const threads = threadSetting(opts);
  registerComparisonGradients();
  const tried: BackendAttempt[] = [];
  for (const backend of choice === 'auto' ? AUTO_ORDER : [choice]) {
    try {
      const { warning, ...active } = await activate(backend, setting, threads, opts);
      if (active.name !== 'wasm') stopWasmThreads();
      const info: BackendInfo = { requested: choice, ...active, tried };
      if (warning) log?.warn(warning, { backend: info.name, package: info.package });
      log?.info('tfjs backend selected', { ...info });
      return info;
    } catch (e) {
      if (choice !== 'auto') throw e;
      tried.push({ backend, error: reason(e) });
      log?.info('tfjs backend unavailable, trying the next', { backend, package: BACKEND_PACKAGES[backend], error: reason(e) });
    }
  }
  const summary = tried.map((t) => `${t.backend}: ${t.error}`).join('; ');
  throw new BackendUnavailableError('auto', AUTO_ORDER.map((b) => BACKEND_PACKAGES[b]).join(', '), `every backend failed (${summary})`);
}
