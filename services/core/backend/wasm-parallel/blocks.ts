// A share of a split kernel reads and writes rectangular blocks of row-major tensors seen as
// matrices: a batch slice of (B, H, W, C) is rows [b0, b1) of (B, H·W·C); the channel slice of
// dy (B, Ho, Wo, co) for a filter-gradient share is columns [c0, c1) of (B·Ho·Wo, co); the
// column block of a product's output is columns [c0, c1) of (M, N). Packed, a block is its
// rows one after another, each (c1 - c0) long.

export interface Block {
  /** The whole tensor as a (rows, cols) matrix. */
  rows: number;
  cols: number;
  r0: number;
  r1: number;
  c0: number;
  c1: number;
}

export function rowBlock(rows: number, cols: number, r0: number, r1: number): Block {
  return { rows, cols, r0, r1, c0: 0, c1: cols };
}

export function colBlock(rows: number, cols: number, c0: number, c1: number): Block {
  return { rows, cols, r0: 0, r1: rows, c0, c1 };
}

export function wholeBlock(rows: number, cols: number): Block {
  return { rows, cols, r0: 0, r1: rows, c0: 0, c1: cols };
}

export function isWhole(b: Block): boolean {
  return b.r0 === 0 && b.r1 === b.rows && b.c0 === 0 && b.c1 === b.cols;
}

export function blockSize(b: Block): number {
  return (b.r1 - b.r0) * (b.c1 - b.c0);
}

/** dst (packed) = the block of src (the whole tensor). */
export function readBlock(src: Float32Array, b: Block, dst: Float32Array): void {
  const width = b.c1 - b.c0;
  if (width === b.cols) {
    dst.set(src.subarray(b.r0 * b.cols, b.r1 * b.cols));
    return;
  }
  let d = 0;
  for (let r = b.r0; r < b.r1; r++, d += width) {
    const s = r * b.cols + b.c0;
    dst.set(src.subarray(s, s + width), d);
  }
}

/** The block of dst (the whole tensor) = src (packed). */
export function writeBlock(src: Float32Array, dst: Float32Array, b: Block): void {
  const width = b.c1 - b.c0;
  if (width === b.cols) {
    dst.set(src.subarray(0, (b.r1 - b.r0) * width), b.r0 * b.cols);
    return;
  }
  let s = 0;
  for (let r = b.r0; r < b.r1; r++, s += width) dst.set(src.subarray(s, s + width), r * b.cols + b.c0);
}

/**
 * `total` items as `parts` contiguous ranges [start, end) of near-equal length, the longer ones
 * last (the main thread takes the first range and also does the copying).
 */
export function ranges(total: number, parts: number): [number, number][] {
  const n = Math.max(1, Math.min(parts, total));
  const base = Math.floor(total / n);
  const extra = total - base * n;
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const len = base + (i >= n - extra ? 1 : 0);
    out.push([start, start + len]);
    start += len;
  }
  return out;
}
