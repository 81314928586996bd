// The shape of one split kernel (split-conv.ts, split-filter-grad.ts, split-mat-mul.ts) and when
// splitting pays.
import type { tf } from '../../tf.ts';
import type { SplitPlan } from './split-run.ts';

/**
 * Below this many floating-point operations a kernel runs on the main thread alone. Measured on
 * the 2-core machine, batch 64, fresh inputs: calls of 26-51 MFLOP (2-4 ms on one thread: the
 * first layer's conv and gradients, the mlp's 784 x 512 products) were 0-35 % slower split (the
 * worker's wake-up, copies, and the im2col both threads repeat), the 205 MFLOP quick conv
 * (10 ms) 1.35x faster, and the 820 MFLOP conv and product shapes 1.3-1.7x faster.
 */
export const SPLIT_MIN_FLOPS = 100e6;

export interface SplitKernel {
  readonly kernelName: string;
  /** How to share the call among `threads` threads, or null to run it on one. */
  plan(args: Parameters<tf.KernelFunc>[0], threads: number): SplitPlan | null;
}
