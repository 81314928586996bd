// Kernels the wasm backend lacks that training graphs reach through their gradients: the filter
// gradient of every conv2d and conv2dTranspose (Conv2DBackpropFilter), depthwise convolution's
// two gradients, and UnsortedSegmentSum (the gradient of gather). Each is delegated to the cpu
// backend's implementation: the inputs are copied off the wasm heap, the cpu kernel runs, and its
// outputs are copied back. Correct and simple; the fast Conv2DBackpropFilter (wasm-fast-kernels/)
// replaces the delegate unless fast kernels are switched off.
import { tf } from '../tf.ts';
import type { WasmBackend } from './wasm-backend.ts';

export const DELEGATED_TO_CPU = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
] as const;

export class KernelDelegationError extends Error {
  override name = 'KernelDelegationError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function cpuBackend(): tf.KernelBackend {
  const cpu = tf.engine().findBackend('cpu');
  if (cpu == null) throw new KernelDelegationError("wasm-grad-kernels.ts: the 'cpu' backend could not be initialized");
  // The cpu backend prints a "install tfjs-node" banner on first use; it is only a helper here.
  (cpu as unknown as { firstUse?: boolean }).firstUse = false;
  return cpu;
}

/** A wasm kernel that runs the cpu kernel `kernelName` on copies of its inputs. */
export function cpuDelegate(kernelName: string): tf.KernelConfig {
  const kernelFunc: tf.KernelFunc = ({ inputs, attrs, backend }) => {
    // Looked up per call, so the delegate follows whatever the cpu registry holds.
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    if (cpuKernel == null) throw new KernelDelegationError(`wasm-grad-kernels.ts: cpu has no kernel '${kernelName}'`);
    const wasm = backend as WasmBackend;
    const cpu = cpuBackend();
    const cpuInputs: tf.NamedTensorInfoMap = {};
    try {
      for (const [key, t] of Object.entries(inputs)) {
        if (t == null) continue;
        cpuInputs[key] = { dataId: cpu.write(wasm.readSync(t.dataId), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
      }
      const result = cpuKernel.kernelFunc({ inputs: cpuInputs, attrs, backend: cpu });
      const outs = Array.isArray(result) ? result : [result];
      const back = outs.map((o) => {
        const values = cpu.readSync(o.dataId) as tf.BackendValues;
        cpu.disposeData(o.dataId);
        return wasm.makeOutput(o.shape, o.dtype, undefined, values);
      });
      return Array.isArray(result) ? back : back[0];
    } finally {
      for (const t of Object.values(cpuInputs)) if (t != null) cpu.disposeData(t.dataId);
    }
  };
  return { kernelName, backendName: 'wasm', kernelFunc };
}

/** Registers a cpu delegate for each kernel in DELEGATED_TO_CPU that wasm lacks; idempotent. */
export function registerWasmGradKernels(): string[] {
  const added: string[] = [];
  for (const name of DELEGATED_TO_CPU) {
    if (tf.getKernel(name, 'wasm') != null) continue;
    tf.registerKernel(cpuDelegate(name));
    added.push(name);
  }
  return added;
}
