// The worker threads of a multi-threaded wasm backend and the synchronous hand-off of
// protocol.ts. Workers are started (and their wasm backends initialized) asynchronously at
// backend init; after that `run` is called from inside a kernel, blocks the main thread until
// every worker has finished its share, and never waits without bound: a worker that throws, exits
// or is terminated, or that does not answer within JOB_TIMEOUT_MS, becomes a WasmWorkerError.
// The workers run worker.ts through startTsWorker (ts-worker.ts).
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { tf } from '../../tf.ts';
import { startTsWorker } from '../../ts-worker.ts';
import { WasmWorkerError } from '../errors.ts';
import {
  CONTROL_WORDS, DONE, EXITED, REQUEST, SHUTDOWN, STATUS, STATUS_FAILED,
  type Job, type ReadyMessage, type Reply, type Slot, type WorkerInit, type WorkerStats,
} from './protocol.ts';

/** Main waits in slices this long, checking between them that the worker thread still runs. */
const WAIT_SLICE_MS = 20;
/** No share of a kernel takes near this long (the biggest take ~100 ms); past it, give up. */
const JOB_TIMEOUT_MS = 60_000;
const START_TIMEOUT_MS = 120_000;

/** One worker's share of a kernel: its inputs (copied in by `fill`) and where its output goes. */
export interface WorkerShare {
  attrs: tf.NamedAttrMap;
  inputs: Record<string, { shape: number[]; fill(dst: Float32Array): void }>;
  outShape: number[];
  take(src: Float32Array): void;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Whether the thread behind `w` has stopped. A blocked main thread gets no 'exit' event, and a
 * terminated worker runs no exit handler; Node 20 reports the event-loop utilization of a stopped
 * worker thread as idle -1 (or all zeros when the first reading comes after the stop).
 */
function threadStopped(w: Worker): boolean {
  const u = w.performance.eventLoopUtilization();
  return u.idle < 0 || (u.idle === 0 && u.active === 0);
}

class WorkerHandle {
  readonly control: Int32Array;
  data: Float32Array<ArrayBufferLike> = new Float32Array(0);
  seq = 0;
  private grown: SharedArrayBuffer | undefined;
  /** The thread stopped or stopped answering. */
  lost = false;
  /** The last 'error' event or exit code seen by the event loop (arrives asynchronously). */
  lastEvent = '';
  private constructor(readonly index: number, readonly worker: Worker, readonly port: MessagePort, control: SharedArrayBuffer) {
    this.control = new Int32Array(control);
  }

  static async start(index: number, wasmKernels: string): Promise<WorkerHandle> {
    const { port1, port2 } = new MessageChannel();
    const init: Omit<WorkerInit, 'control' | 'port'> = { index, wasmKernels };
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const worker = startTsWorker(new URL('./worker.ts', import.meta.url), { workerData: { ...init, control, port: port2 }, transferList: [port2] });
    const h = new WorkerHandle(index, worker, port1, control);
    worker.on('error', (e) => { h.lastEvent = `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`; });
    worker.on('exit', (code) => { h.lastEvent ||= `exited with code ${code}`; });
    await h.ready();
    // Only now: while starting, the worker is what keeps an awaiting process alive.
    worker.unref();
    port1.unref();
    return h;
  }

  private ready(): Promise<ReadyMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`did not start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      const fail = (why: string, cause?: unknown): void => {
        clearTimeout(timer);
        void this.worker.terminate();
        reject(new WasmWorkerError('', this.index, `failed to start: ${why}`, { cause }));
      };
      this.worker.once('message', (m: ReadyMessage) => { clearTimeout(timer); resolve(m); });
      this.worker.once('error', (e) => fail(e instanceof Error ? e.message : String(e), e));
      this.worker.once('exit', (code) => fail(`exited with code ${code}`));
    });
  }

  /** Room for `floats` elements in data; a new buffer travels with the next descriptor. */
  reserve(floats: number): void {
    if (this.data.length >= floats) return;
    const grown = new SharedArrayBuffer(Math.max(floats, 2 * this.data.length) * 4);
    this.data = new Float32Array(grown);
    this.grown = grown;
  }

  /** protocol.ts step a), once the inputs are in data. */
  post(job: Job): void {
    if (this.grown) job.data = this.grown;
    this.grown = undefined;
    this.seq += 1;
    this.port.postMessage(job);
    Atomics.store(this.control, REQUEST, this.seq);
    Atomics.notify(this.control, REQUEST);
  }

  /** protocol.ts step d); throws WasmWorkerError on failure, exit, a stopped thread or timeout. */
  wait(kernel: string): Reply | undefined {
    const deadline = performance.now() + JOB_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(this.control, DONE);
      if (done === this.seq) break;
      Atomics.wait(this.control, DONE, done, WAIT_SLICE_MS);
      if (Atomics.load(this.control, DONE) === this.seq) break;
      if (Atomics.load(this.control, EXITED) === 1) throw this.failure(kernel, 'exited while running it');
      if (threadStopped(this.worker)) throw this.failure(kernel, 'its thread stopped (terminated or crashed)');
      if (performance.now() > deadline) throw this.failure(kernel, `no answer within ${JOB_TIMEOUT_MS / 1000} s`);
    }
    const reply = receiveMessageOnPort(this.port)?.message as Reply | undefined;
    if (Atomics.load(this.control, STATUS) === STATUS_FAILED) {
      throw new WasmWorkerError(kernel, this.index, reply != null && 'error' in reply ? reply.error : 'failed without a message');
    }
    return reply;
  }

  private failure(kernel: string, what: string): WasmWorkerError {
    this.lost = true;
    return new WasmWorkerError(kernel, this.index, this.lastEvent ? `${what} (${this.lastEvent})` : what);
  }

  stop(): void {
    Atomics.store(this.control, REQUEST, SHUTDOWN);
    Atomics.notify(this.control, REQUEST);
    this.port.close();
    this.worker.terminate().catch(() => undefined);
  }
}

export class WasmWorkerPool {
  private busy = false;
  private kernelJobs = 0;
  /** Set when a worker died: every later run fails with it (initBackend starts a new pool). */
  private brokenBy: WasmWorkerError | null = null;

  private constructor(private readonly handles: WorkerHandle[], readonly wasmKernels: string) {}

  /** Starts `threads - 1` workers and waits until each has initialized its wasm backend. */
  static async start(threads: number, wasmKernels: string): Promise<WasmWorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: threads - 1 }, (_, i) => WorkerHandle.start(i + 1, wasmKernels)));
    const handles = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      handles.forEach((h) => h.stop());
      throw failed.reason;
    }
    return new WasmWorkerPool(handles, wasmKernels);
  }

  /** Threads computing, the main thread included. */
  get threads(): number {
    return this.handles.length + 1;
  }

  /** True while a split kernel runs (a nested kernel must then run on one thread). */
  get running(): boolean {
    return this.busy;
  }

  get broken(): WasmWorkerError | null {
    return this.brokenBy;
  }

  /** Kernel shares handed to workers so far (tests check that a split really happened). */
  get jobsRun(): number {
    return this.kernelJobs;
  }

  /**
   * Runs shares[i] of `kernel` on worker i + 1 while `own` computes the main thread's share, then
   * hands each worker's output to its `take`. At most `threads - 1` shares.
   */
  run<T>(kernel: string, shares: readonly WorkerShare[], own: () => T): T {
    if (this.brokenBy) throw new WasmWorkerError(kernel, this.brokenBy.worker, `the pool stopped earlier: ${this.brokenBy.message}`, { cause: this.brokenBy });
    if (shares.length > this.handles.length) throw new Error(`pool.ts: ${shares.length} shares for ${this.handles.length} workers`);
    this.busy = true;
    try {
      const outputs = shares.map((s, i) => this.post(this.handles[i], kernel, s));
      let result: T | undefined;
      let ownError: unknown;
      try {
        result = own();
      } catch (e) {
        ownError = e;
      }
      // Every worker is waited for, even after a failure, before its data buffer is reused.
      const errors: unknown[] = [];
      shares.forEach((s, i) => {
        try {
          this.collect(this.handles[i], kernel, s, outputs[i]);
        } catch (e) {
          errors.push(e);
        }
      });
      if (ownError !== undefined) throw ownError;
      if (errors.length > 0) throw errors[0];
      return result as T;
    } finally {
      this.busy = false;
    }
  }

  /** Copies the share's inputs into the worker's data buffer and posts it; returns its output slot. */
  private post(h: WorkerHandle, kernel: string, share: WorkerShare): Slot {
    let offset = 0;
    const inputs: Record<string, Slot> = {};
    for (const [name, input] of Object.entries(share.inputs)) {
      inputs[name] = { shape: input.shape, offset };
      offset += size(input.shape);
    }
    const output: Slot = { shape: share.outShape, offset };
    h.reserve(offset + size(share.outShape));
    for (const [name, input] of Object.entries(share.inputs)) {
      input.fill(h.data.subarray(inputs[name].offset, inputs[name].offset + size(input.shape)));
    }
    h.post({ type: 'kernel', kernel, attrs: share.attrs, inputs, output });
    this.kernelJobs += 1;
    return output;
  }

  private collect(h: WorkerHandle, kernel: string, share: WorkerShare, output: Slot): void {
    try {
      h.wait(kernel);
    } catch (e) {
      // A worker whose kernel threw is still serving; one that stopped or hangs is not.
      if (h.lost && e instanceof WasmWorkerError) this.brokenBy = e;
      throw e;
    }
    share.take(h.data.subarray(output.offset, output.offset + size(output.shape)));
  }

  /** Buffer and tensor counts of each worker (leak checks). */
  stats(): WorkerStats[] {
    return this.handles.map((h) => {
      h.post({ type: 'stats' });
      const reply = h.wait('');
      if (reply == null || !('stats' in reply)) throw new WasmWorkerError('', h.index, 'answered a stats job without stats');
      return reply.stats;
    });
  }

  /** Stops worker `index` (1-based) at once, as a crash would; the next run reports it. */
  terminateWorker(index: number): void {
    void this.handles[index - 1].worker.terminate();
  }

  dispose(): void {
    this.handles.forEach((h) => h.stop());
    this.handles.length = 0;
  }
}
