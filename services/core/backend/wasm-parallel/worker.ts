// A wasm worker thread: its own single-threaded tfjs wasm backend with the same kernels as the
// main thread (GANTRY_WASM_KERNELS passed in workerData), serving jobs synchronously as
// protocol.ts describes. It never returns to its event loop while serving, so the descriptors
// come through receiveMessageOnPort and the thread is stopped by SHUTDOWN or terminate().
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { tf } from '../../tf.ts';
import { initBackend } from '../select.ts';
import { callActive, heapF32, release, type WasmBackend } from '../wasm-backend.ts';
import { clearTransposedCache } from '../wasm-fast-kernels/transposed-cache.ts';
import {
  DONE, EXITED, REQUEST, SHUTDOWN, STATUS, STATUS_FAILED, STATUS_OK,
  type Job, type KernelJob, type ReadyMessage, type Reply, type WorkerInit,
} from './protocol.ts';

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function runKernel(backend: WasmBackend, job: KernelJob, data: Float32Array<ArrayBufferLike>): void {
  const inputs: tf.NamedTensorInfoMap = {};
  const owned: tf.TensorInfo[] = [];
  try {
    for (const [name, slot] of Object.entries(job.inputs)) {
      const info = backend.makeOutput(slot.shape, 'float32', undefined, data.subarray(slot.offset, slot.offset + size(slot.shape)));
      owned.push(info);
      inputs[name] = info;
    }
    const out = callActive(backend, job.kernel, inputs, job.attrs);
    owned.push(out);
    if (out.shape.join(',') !== job.output.shape.join(',') || out.dtype !== 'float32') {
      throw new Error(`${job.kernel} gave a ${out.dtype} (${out.shape}) output; main expects float32 (${job.output.shape})`);
    }
    data.set(heapF32(backend, out), job.output.offset);
  } finally {
    release(backend, ...owned);
    // Inputs never outlive their job here, so a cached transpose could never be hit again.
    clearTransposedCache();
  }
}

function stats(backend: WasmBackend): Reply {
  return { stats: { dataIds: (backend as unknown as { numDataIds(): number }).numDataIds(), tensors: tf.memory().numTensors } };
}

function reason(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The job loop of protocol.ts, steps b) and c); returns on SHUTDOWN. */
function serve(control: Int32Array, port: MessagePort, backend: WasmBackend): void {
  let seen = 0;
  let data: Float32Array<ArrayBufferLike> = new Float32Array(0);
  for (;;) {
    Atomics.wait(control, REQUEST, seen);
    const request = Atomics.load(control, REQUEST);
    if (request === SHUTDOWN) return;
    if (request === seen) continue;
    seen = request;
    let status = STATUS_OK;
    try {
      const job = receiveMessageOnPort(port)?.message as Job | undefined;
      if (job == null) throw new Error(`job ${seen}: REQUEST was raised but no descriptor arrived on the port`);
      if (job.data) data = new Float32Array(job.data);
      if (job.type === 'kernel') runKernel(backend, job, data);
      else port.postMessage(stats(backend));
    } catch (e) {
      status = STATUS_FAILED;
      port.postMessage({ error: reason(e) } satisfies Reply);
    }
    Atomics.store(control, STATUS, status);
    Atomics.store(control, DONE, seen);
    Atomics.notify(control, DONE);
  }
}

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  const control = new Int32Array(init.control);
  process.on('exit', () => {
    Atomics.store(control, EXITED, 1);
    Atomics.notify(control, DONE);
  });
  const info = await initBackend('wasm', undefined, { wasmKernels: init.wasmKernels, wasmThreads: 1 });
  parentPort?.postMessage({ ready: true, device: info.device, fastKernels: info.fastKernels } satisfies ReadyMessage);
  serve(control, init.port, tf.backend() as unknown as WasmBackend);
  init.port.close();
}

await main();
