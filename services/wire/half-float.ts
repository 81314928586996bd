// float32 <-> IEEE-754 binary16 and bfloat16 bit patterns, round to nearest even. Only used when a
// caller opts into a half-precision wire encoding (DType FLOAT16 / BFLOAT16); FLOAT32 is exact.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds `bits` right by `shift` (1..24) bits to nearest, ties to even. */
function roundShift(bits: number, shift: number): number {
  const q = bits >>> shift;
  const rem = bits & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

/** binary32 bit pattern -> binary16 bit pattern. Overflow gives +-Inf, NaN stays NaN (quiet). */
export function float32BitsToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e > 0) {
    // Rounding may carry into the exponent; that is the correctly rounded result (up to Inf).
    return sign | roundShift((e << 23) | mant, 13);
  }
  // Half subnormal: value / 2^-24 = (1.mant * 2^23) >> (126 - exp).
  const shift = 126 - exp;
  if (shift > 24) return sign;
  return sign | roundShift(mant | 0x800000, shift);
}

let halfTable: Float32Array | undefined;

/** All 65536 binary16 values as float32 (exactly representable), built on first use. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant === 0 ? sign * Infinity : NaN;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  halfTable = table;
  return table;
}

export function floatToHalfArray(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToHalf(bits[i]);
  return out;
}

export function halfToFloatArray(src: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** binary32 bit pattern -> bfloat16 bit pattern (the upper half, rounded; NaN stays quiet NaN). */
export function float32BitsToBfloat16(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return roundShift(bits >>> 0, 16) & 0xffff;
}

export function floatToBfloat16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToBfloat16(bits[i]);
  return out;
}

export function bfloat16ToFloatArray(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i] << 16;
  return out;
}

/** One float through binary16 and back (for tests and error bounds). */
export function roundToHalf(x: number): number {
  f32[0] = x;
  return halfToFloatTable()[float32BitsToHalf(u32[0])];
}
