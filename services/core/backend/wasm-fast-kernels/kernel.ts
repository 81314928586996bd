// The shape of one fast wasm kernel module.
import type { tf } from '../../tf.ts';

export interface FastKernel {
  /** The tfjs kernel it replaces (or adds) for the 'wasm' backend. */
  readonly kernelName: string;
  readonly kernelFunc: tf.KernelFunc;
}
