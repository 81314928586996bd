// BatchMatMul without the transposed slow path. The stock wasm kernel sends only the plain form
// (no transposes, batch 1) to XNNPACK's fully-connected operator; with transposeA or transposeB it
// runs a scalar triple loop, 5-45x slower, and every dense layer's backward pass uses those forms
// (dW = xᵀ·dy, dx = dy·Wᵀ). Here each transposed product becomes the plain form by transposing
// whichever operands are cheapest to move (T = an explicit transpose):
//   A·Bᵀ  = A·T(B)  or  T(B·T(A))
//   Aᵀ·B  = T(A)·B  or  T(T(B)·A)
//   Aᵀ·Bᵀ = T(B·A)
// so a (6272, 1024) weight is never transposed just to multiply a (64, 1024) gradient by it.
// The plain product x·W itself runs with W streamed rather than packed when W is large
// (streamWeights below).
import type { tf } from '../../tf.ts';
import { call, release, reshape, transpose, type WasmBackend } from '../wasm-backend.ts';
import type { FastKernel } from './kernel.ts';
import { cachedTranspose } from './transposed-cache.ts';

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** (1, R, C) -> (1, C, R). */
function swapInner(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  return transpose(backend, x, [0, 2, 1]);
}

function plain(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  return call(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

/** The product with operands (and result) transposed as planned; intermediates are released. */
function viaTransposes(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo,
  plan: { ta: boolean; tb: boolean; swap: boolean; tOut: boolean }): tf.TensorInfo {
  const owned: tf.TensorInfo[] = [];
  const t = (x: tf.TensorInfo): tf.TensorInfo => { const y = swapInner(backend, x); owned.push(y); return y; };
  const left = plan.ta ? t(a) : a;
  const right = plan.tb ? t(b) : b;
  const product = plan.swap ? plain(backend, right, left) : plain(backend, left, right);
  let out = product;
  if (plan.tOut) {
    out = swapInner(backend, product);
    owned.push(product);
  }
  release(backend, ...owned);
  return out;
}

/**
 * Which operands to transpose so that the product is plain, by elements moved: a transpose moves
 * each element once, and XNNPACK's packing of the right operand costs about two moves per element.
 */
function choosePlan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean, outSize: number) {
  const na = size(a.shape);
  const nb = size(b.shape);
  if (transposeA && transposeB) return { ta: false, tb: false, swap: true, tOut: true };
  if (transposeB) {
    // A·T(B): T(B) is moved, then packed.  T(B·T(A)): T(A) moved and packed, the result moved.
    return 3 * nb <= 3 * na + outSize ? { ta: false, tb: true, swap: false, tOut: false } : { ta: true, tb: false, swap: true, tOut: true };
  }
  // T(A)·B: T(A) moved, B packed.  T(T(B)·A): T(B) moved, A packed, the result moved.
  return na + 2 * nb <= nb + 2 * na + outSize ? { ta: true, tb: false, swap: false, tOut: false } : { ta: false, tb: true, swap: true, tOut: true };
}

/**
 * Whether x (M, K) · W (K, N) should run as T(Wᵀ · xᵀ). XNNPACK's fully-connected operator packs
 * its right operand on every new buffer (~6 ns per element) and then streams the packed weights
 * once per few rows of x: a (1024, 6272) weight is read ~16 times for a batch of 64. With Wᵀ as
 * the left operand it is read once, and the packed operand is the small xᵀ. Wᵀ comes from
 * transposed-cache.ts, so each value of W is transposed once however often it is used. Worth it
 * when moving x and the result costs much less than W itself.
 */
function streamWeights(m: number, k: number, n: number): boolean {
  return 4 * m * (k + n) <= k * n;
}

function streamed(backend: WasmBackend, x: tf.TensorInfo, w: tf.TensorInfo): tf.TensorInfo {
  const wT = cachedTranspose(backend, w); // (1, N, K), owned by the cache
  const xT = swapInner(backend, x); // (1, K, M)
  const outT = plain(backend, wT, xT); // (1, N, M)
  const out = swapInner(backend, outT); // (1, M, N)
  release(backend, xT, outT);
  return out;
}

function batchMatMul({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  // Only batch-1 products reach XNNPACK; batched ones stay on the stock kernel.
  if (batchA !== 1 || batchB !== 1 || a.dtype !== 'float32') {
    return call(wasm, 'BatchMatMul', { a, b }, { transposeA, transposeB });
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transposeA ? ac : ar;
  const n = transposeB ? br : bc;
  if (!transposeA && !transposeB && !streamWeights(ar, ac, bc)) {
    return call(wasm, 'BatchMatMul', { a, b }, { transposeA, transposeB });
  }
  const a3 = reshape(wasm, a, [1, ar, ac]);
  const b3 = reshape(wasm, b, [1, br, bc]);
  const out3 = transposeA || transposeB ? viaTransposes(wasm, a3, b3, choosePlan(a, b, transposeA, transposeB, m * n))
    : streamed(wasm, a3, b3);
  release(wasm, a3, b3);
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n];
  const out = reshape(wasm, out3, outShape);
  release(wasm, out3);
  return out;
}

export const batchMatMulKernel: FastKernel = { kernelName: 'BatchMatMul', kernelFunc: batchMatMul };
