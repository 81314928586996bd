// BatchMatMul (batch 1, float32) split over the rows or the columns of the output op(A)·op(B),
// (M, K)·(K, N) -> (M, N). A share computes a block of whole rows or whole columns with the
// one-thread kernel, so every element is the same K-long dot product in the same order:
// bit-identical to one thread.
//   rows [r0, r1):    op(A)'s rows (A's columns when transposeA: a strided copy), all of B
//   columns [c0, c1): all of A, op(B)'s columns (B's rows when transposeB: contiguous)
// whichever moves fewer elements to a worker. x·W with a large weight (the case batch-mat-mul.ts
// streams as T(Wᵀ·xᵀ)) is split by columns taken from the cached Wᵀ (transposed-cache.ts) with
// transposeB: each share is then exactly that streamed product on its rows of Wᵀ, contiguous, and
// no thread transposes W again.
import type { tf } from '../../tf.ts';
import { call, release, type WasmBackend } from '../wasm-backend.ts';
import { cachedTranspose } from '../wasm-fast-kernels/transposed-cache.ts';
import { colBlock, ranges, rowBlock, wholeBlock, type Block } from './blocks.ts';
import { SPLIT_MIN_FLOPS, type SplitKernel } from './split-kernel.ts';
import type { Share, SplitPlan } from './split-run.ts';

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** batch-mat-mul.ts's streamWeights: x (M, K)·W (K, N) runs as T(Wᵀ·xᵀ) there. */
function streamsWeights(m: number, k: number, n: number): boolean {
  return 4 * m * (k + n) <= k * n;
}

interface Operand {
  info: tf.TensorInfo;
  /** The stored matrix (rows, cols), before any transpose. */
  rows: number;
  cols: number;
  transposed: boolean;
}

const whole = (o: Operand): { info: tf.TensorInfo; block: Block; shape: number[] } =>
  ({ info: o.info, block: wholeBlock(o.rows, o.cols), shape: [o.rows, o.cols] });

/** Rows [i0, i1) of op(o): stored rows, or stored columns when transposed. */
function opRows(o: Operand, i0: number, i1: number): { info: tf.TensorInfo; block: Block; shape: number[] } {
  return o.transposed
    ? { info: o.info, block: colBlock(o.rows, o.cols, i0, i1), shape: [o.rows, i1 - i0] }
    : { info: o.info, block: rowBlock(o.rows, o.cols, i0, i1), shape: [i1 - i0, o.cols] };
}

/** Columns [j0, j1) of op(o): stored columns, or stored rows when transposed. */
function opCols(o: Operand, j0: number, j1: number): { info: tf.TensorInfo; block: Block; shape: number[] } {
  return o.transposed
    ? { info: o.info, block: rowBlock(o.rows, o.cols, j0, j1), shape: [j1 - j0, o.cols] }
    : { info: o.info, block: colBlock(o.rows, o.cols, j0, j1), shape: [o.rows, j1 - j0] };
}

function rowPlan(a: Operand, b: Operand, m: number, n: number, outShape: number[], threads: number): SplitPlan {
  const attrs = { transposeA: a.transposed, transposeB: b.transposed };
  const shares: Share[] = ranges(m, threads).map(([r0, r1]) => ({
    attrs, inputs: { a: opRows(a, r0, r1), b: whole(b) }, outShape: [r1 - r0, n], outBlock: rowBlock(m, n, r0, r1),
  }));
  return { kernel: 'BatchMatMul', outShape, shares };
}

function colPlan(a: Operand, b: Operand, m: number, n: number, outShape: number[], threads: number): SplitPlan {
  const attrs = { transposeA: a.transposed, transposeB: b.transposed };
  const shares: Share[] = ranges(n, threads).map(([c0, c1]) => ({
    attrs, inputs: { a: whole(a), b: opCols(b, c0, c1) }, outShape: [m, c1 - c0], outBlock: colBlock(m, n, c0, c1),
  }));
  return { kernel: 'BatchMatMul', outShape, shares };
}

export const batchMatMulSplit: SplitKernel = {
  kernelName: 'BatchMatMul',
  plan({ inputs, attrs, backend }, threads) {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
    if (size(a.shape.slice(0, -2)) !== 1 || size(b.shape.slice(0, -2)) !== 1) return null;
    const [ar, ac] = a.shape.slice(-2);
    const [br, bc] = b.shape.slice(-2);
    const m = transposeA ? ac : ar;
    const k = transposeA ? ar : ac;
    const n = transposeB ? br : bc;
    if (2 * m * n * k < SPLIT_MIN_FLOPS || (m < 2 && n < 2)) return null;
    const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n];
    const A: Operand = { info: a, rows: ar, cols: ac, transposed: transposeA };
    if (!transposeA && !transposeB && n >= 2 && streamsWeights(m, k, n)) {
      const wasm = backend as WasmBackend;
      const b3 = call(wasm, 'Reshape', { x: b }, { shape: [1, k, n] });
      const wT = cachedTranspose(wasm, b3); // (1, N, K), owned by the cache
      release(wasm, b3);
      return colPlan(A, { info: wT, rows: n, cols: k, transposed: true }, m, n, outShape, threads);
    }
    const B: Operand = { info: b, rows: br, cols: bc, transposed: transposeB };
    // Elements a worker receives and returns: its block of op(A) or op(B), the other whole, its output block.
    const byRows = m * k / threads + k * n + m * n / threads;
    const byCols = m * k + k * n / threads + m * n / threads;
    const rows = n < 2 || (m >= 2 && byRows <= byCols);
    return rows ? rowPlan(A, B, m, n, outShape, threads) : colPlan(A, B, m, n, outShape, threads);
  },
};
