// Running one kernel as shares on the pool's threads. A plan (split-*.ts) gives each share its
// inputs as blocks of the kernel's inputs, its attrs and the block of the output it fills; the
// shares' output blocks tile the output exactly. Share 0 runs on the main thread with the
// single-thread kernel (`inner`); the others go to the workers, which run the same kernel.
// The wasm heap is not shared memory: a worker's inputs are copied into its data buffer and its
// output copied back, and views of the heap are taken only after the last allocation before use
// (a growing heap invalidates them).
import type { tf } from '../../tf.ts';
import { heapF32, release, type WasmBackend } from '../wasm-backend.ts';
import { blockSize, isWhole, readBlock, writeBlock, type Block } from './blocks.ts';
import type { WasmWorkerPool, WorkerShare } from './pool.ts';

export interface ShareInput {
  info: tf.TensorInfo;
  block: Block;
  /** The share's own shape for this input (blockSize(block) elements). */
  shape: number[];
}

export interface Share {
  attrs: tf.NamedAttrMap;
  inputs: Record<string, ShareInput>;
  outShape: number[];
  outBlock: Block;
}

export interface SplitPlan {
  kernel: string;
  outShape: number[];
  /** shares[0] is the main thread's. */
  shares: Share[];
}

function checkPlan(plan: SplitPlan): void {
  for (const s of plan.shares) {
    const bad = Object.entries(s.inputs).find(([, i]) => blockSize(i.block) !== i.shape.reduce((a, b) => a * b, 1));
    if (bad) throw new Error(`split-run.ts: ${plan.kernel} input '${bad[0]}' block does not hold shape (${bad[1].shape})`);
    if (blockSize(s.outBlock) !== s.outShape.reduce((a, b) => a * b, 1)) {
      throw new Error(`split-run.ts: ${plan.kernel} output block does not hold shape (${s.outShape})`);
    }
  }
}

function workerShare(backend: WasmBackend, share: Share, out: tf.TensorInfo): WorkerShare {
  const inputs: WorkerShare['inputs'] = {};
  for (const [name, input] of Object.entries(share.inputs)) {
    inputs[name] = { shape: input.shape, fill: (dst) => readBlock(heapF32(backend, input.info), input.block, dst) };
  }
  return {
    attrs: share.attrs,
    inputs,
    outShape: share.outShape,
    take: (src) => writeBlock(src, heapF32(backend, out), share.outBlock),
  };
}

/** The main thread's share: its inputs cut out on the heap (whole ones used as they are). */
function ownShare(backend: WasmBackend, inner: tf.KernelFunc, share: Share, out: tf.TensorInfo): void {
  const inputs: tf.NamedTensorInfoMap = {};
  const owned: tf.TensorInfo[] = [];
  try {
    for (const [name, input] of Object.entries(share.inputs)) {
      if (isWhole(input.block)) {
        inputs[name] = input.info;
        continue;
      }
      const part = backend.makeOutput(input.shape, 'float32');
      owned.push(part);
      readBlock(heapF32(backend, input.info), input.block, heapF32(backend, part));
      inputs[name] = part;
    }
    const result = inner({ inputs, backend, attrs: share.attrs }) as tf.TensorInfo;
    owned.push(result);
    writeBlock(heapF32(backend, result), heapF32(backend, out), share.outBlock);
  } finally {
    release(backend, ...owned);
  }
}

export function runSplit(backend: WasmBackend, pool: WasmWorkerPool, inner: tf.KernelFunc, plan: SplitPlan): tf.TensorInfo {
  checkPlan(plan);
  const out = backend.makeOutput(plan.outShape, 'float32');
  try {
    const [own, ...rest] = plan.shares;
    pool.run(plan.kernel, rest.map((s) => workerShare(backend, s, out)), () => ownShare(backend, inner, own, out));
    return out;
  } catch (e) {
    release(backend, out);
    throw e;
  }
}
