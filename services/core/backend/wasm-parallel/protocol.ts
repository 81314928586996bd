// The hand-off between the main thread and one wasm worker (pool.ts <-> worker.ts).
//
// Each worker owns two SharedArrayBuffers and one MessagePort pair:
//   control  Int32Array(4), the words below
//   data     float32 inputs and output of the current job, at the offsets its descriptor gives;
//            replaced by a larger one (sent with the descriptor) when a job does not fit
//   port     descriptors main -> worker, replies (errors, stats) worker -> main; both sides read
//            with receiveMessageOnPort, since neither returns to its event loop while a job runs
//
// One job, seq = previous + 1:
//   a) main writes the inputs into data, posts the descriptor, stores REQUEST = seq and notifies
//   b) the worker (blocked in Atomics.wait on REQUEST) wakes, receives the descriptor, runs the
//      kernel on its own wasm heap and writes the output into data; on failure it posts
//      { error } instead
//   c) the worker stores STATUS, then DONE = seq, and notifies DONE
//   d) main (blocked in Atomics.wait on DONE, in slices, checking EXITED and the thread itself)
//      reads STATUS, the reply if any, and copies the output out of data
// REQUEST = SHUTDOWN ends the worker's loop. The worker's 'exit' handler stores EXITED = 1 and
// notifies DONE, so a worker that calls process.exit never leaves main waiting.
import type { MessagePort } from 'node:worker_threads';
import type { tf } from '../../tf.ts';

export const REQUEST = 0;
export const DONE = 1;
export const STATUS = 2;
export const EXITED = 3;
export const CONTROL_WORDS = 4;

export const SHUTDOWN = -1;
export const STATUS_OK = 0;
export const STATUS_FAILED = 1;

/** Where one float32 tensor of a job lies in the data buffer (offset in elements). */
export interface Slot {
  shape: number[];
  offset: number;
}

export interface KernelJob {
  type: 'kernel';
  kernel: string;
  attrs: tf.NamedAttrMap;
  inputs: Record<string, Slot>;
  output: Slot;
  /** A new, larger data buffer that replaces the previous one from this job on. */
  data?: SharedArrayBuffer;
}

/** Asks for the worker's buffer counts (leak checks). */
export interface StatsJob {
  type: 'stats';
  data?: SharedArrayBuffer;
}

export type Job = KernelJob | StatsJob;

export interface WorkerStats {
  /** Buffers on the worker's wasm heap. */
  dataIds: number;
  /** tfjs tensors alive in the worker. */
  tensors: number;
}

export type Reply = { error: string } | { stats: WorkerStats };

/** What a worker gets as workerData. */
export interface WorkerInit {
  index: number;
  control: SharedArrayBuffer;
  port: MessagePort;
  /** The GANTRY_WASM_KERNELS setting of the main thread, so both run the same kernels. */
  wasmKernels: string;
}

/** The worker's first message on parentPort once its wasm backend is ready. */
export interface ReadyMessage {
  ready: true;
  device: string;
  fastKernels: string[];
}
