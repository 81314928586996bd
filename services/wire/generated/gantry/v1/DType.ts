// Original file: proto/gantry/v1/tensor.proto

/**
 * Element encoding of Tensor.data. FLOAT32 is the default and the only exact one: the distributed
 * run equals the in-process run bit for bit only with it. FLOAT16 and BFLOAT16 halve the bytes on
 * the wire and are used only when a caller opts in; a receiver rejects them unless configured to
 * accept them.
 */
export const DType = {
  /**
   * Little-endian IEEE-754 binary32, 4 bytes per element.
   */
  FLOAT32: 'FLOAT32',
  /**
   * Little-endian IEEE-754 binary16, 2 bytes per element, rounded to nearest even; magnitudes
   * above 65504 become +-Inf and are then rejected as non-finite.
   */
  FLOAT16: 'FLOAT16',
  /**
   * Little-endian bfloat16 (the upper 16 bits of binary32, rounded to nearest even), 2 bytes per
   * element; same range as float32, 8 bits of mantissa.
   */
  BFLOAT16: 'BFLOAT16',
} as const;

/**
 * Element encoding of Tensor.data. FLOAT32 is the default and the only exact one: the distributed
 * run equals the in-process run bit for bit only with it. FLOAT16 and BFLOAT16 halve the bytes on
 * the wire and are used only when a caller opts in; a receiver rejects them unless configured to
 * accept them.
 */
export type DType =
  /**
   * Little-endian IEEE-754 binary32, 4 bytes per element.
   */
  | 'FLOAT32'
  | 0
  /**
   * Little-endian IEEE-754 binary16, 2 bytes per element, rounded to nearest even; magnitudes
   * above 65504 become +-Inf and are then rejected as non-finite.
   */
  | 'FLOAT16'
  | 1
  /**
   * Little-endian bfloat16 (the upper 16 bits of binary32, rounded to nearest even), 2 bytes per
   * element; same range as float32, 8 bits of mantissa.
   */
  | 'BFLOAT16'
  | 2

/**
 * Element encoding of Tensor.data. FLOAT32 is the default and the only exact one: the distributed
 * run equals the in-process run bit for bit only with it. FLOAT16 and BFLOAT16 halve the bytes on
 * the wire and are used only when a caller opts in; a receiver rejects them unless configured to
 * accept them.
 */
export type DType__Output = typeof DType[keyof typeof DType]
