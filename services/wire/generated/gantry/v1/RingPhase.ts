// Original file: proto/gantry/v1/collective.proto

export const RingPhase = {
  /**
   * Partial sums travel right; after N - 1 ring steps rank r holds the sum of segment (r + 1) mod N.
   */
  REDUCE_SCATTER: 'REDUCE_SCATTER',
  /**
   * Reduced segments travel right and are copied; after N - 1 ring steps every rank holds all.
   */
  ALL_GATHER: 'ALL_GATHER',
} as const;

export type RingPhase =
  /**
   * Partial sums travel right; after N - 1 ring steps rank r holds the sum of segment (r + 1) mod N.
   */
  | 'REDUCE_SCATTER'
  | 0
  /**
   * Reduced segments travel right and are copied; after N - 1 ring steps every rank holds all.
   */
  | 'ALL_GATHER'
  | 1

export type RingPhase__Output = typeof RingPhase[keyof typeof RingPhase]
