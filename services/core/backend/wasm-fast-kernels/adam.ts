// One Adam update of one variable as a single pass over the wasm heap, instead of the twelve
// elementwise kernels (and twelve full-size temporaries) of the op-by-op form in optim.ts:
//   m' = b1·m + (1-b1)·g
//   v' = b2·v + (1-b2)·g²
//   p' = p - (alpha·m') / (sqrt(v') + eps)
// Every operation is rounded to float32 exactly where the op-by-op form rounds (a double result
// of +, -, ·, / or sqrt of float32 operands, rounded once to float32, is the correctly rounded
// float32 result), and the constants are the float32 scalars tfjs would make, so the outputs are
// bit-identical to the op-by-op form on the wasm backend (a test checks this).
// The loop runs as wasm SIMD (../wasm-simd/loops.wat, the same float32 operations four at a time)
// where the backend's heap is reachable, else in JavaScript below.
// This is gantry's own kernel name: it exists only where a fast kernel module registers it, and
// optim.ts falls back to the op-by-op form everywhere else.
import type { tf } from '../../tf.ts';
import { allocate, heapF32, type WasmBackend } from '../wasm-backend.ts';
import { simdLoops } from '../wasm-simd/loops.ts';
import type { FastKernel } from './kernel.ts';

export const ADAM_KERNEL = 'GantryAdam';

export interface AdamKernelAttrs {
  beta1: number;
  beta2: number;
  /** The step size with both bias corrections folded in (optim.ts computes it in float64). */
  alpha: number;
  epsilon: number;
}

const f32 = Math.fround;

function adam({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { param, m, v, g } = inputs as Record<'param' | 'm' | 'v' | 'g', tf.TensorInfo>;
  const a = attrs as unknown as AdamKernelAttrs;
  const n = param.shape.reduce((x, y) => x * y, 1);
  for (const [name, t] of Object.entries({ m, v, g })) {
    const size = t.shape.reduce((x, y) => x * y, 1);
    if (size !== n || t.dtype !== 'float32') {
      throw new Error(`${ADAM_KERNEL}: ${name} must be float32 with ${n} elements like the parameter, found ${t.dtype} with ${size}`);
    }
  }
  const wasm = backend as WasmBackend;
  // Allocate every output first: a later allocation may grow the heap and detach earlier views.
  const outs = [allocate(wasm, [...param.shape]).info, allocate(wasm, [...param.shape]).info, allocate(wasm, [...param.shape]).info];
  const b1 = f32(a.beta1);
  const c1 = f32(1 - a.beta1);
  const b2 = f32(a.beta2);
  const c2 = f32(1 - a.beta2);
  const alpha = f32(a.alpha);
  const eps = f32(a.epsilon);
  const [po, mo, vo] = outs.map((t) => heapF32(wasm, t));
  const [pi, mi, vi, gi] = [param, m, v, g].map((t) => heapF32(wasm, t));
  const simd = simdLoops(wasm);
  if (simd != null) {
    simd.adam(n, pi.byteOffset, mi.byteOffset, vi.byteOffset, gi.byteOffset, po.byteOffset, mo.byteOffset, vo.byteOffset,
      b1, c1, b2, c2, alpha, eps);
    return outs;
  }
  for (let i = 0; i < n; i++) {
    const gv = gi[i];
    const mn = f32(f32(mi[i] * b1) + f32(gv * c1));
    const vn = f32(f32(vi[i] * b2) + f32(f32(gv * gv) * c2));
    mo[i] = mn;
    vo[i] = vn;
    po[i] = pi[i] - f32(f32(mn * alpha) / f32(f32(Math.sqrt(vn)) + eps));
  }
  return outs;
}

export const adamKernel: FastKernel = { kernelName: ADAM_KERNEL, kernelFunc: adam as unknown as tf.KernelFunc };
