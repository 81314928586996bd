// Shared by the kernels-*.test.ts files: running the same computation on cpu and on wasm from
// identical inputs, the relative error the brief defines, and a float64 reference for
// Conv2DBackpropFilter that is fast enough to back whole-step comparisons (the cpu backend's
// own kernel takes seconds per call at the presets' 64 -> 128 channel shapes), and one D + G
// step (or classifier step) of a preset graph on a given backend.
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { buildGraph, disposeParams, initParams, type GraphName } from '../../services/core/backend/graphs.ts';
import { classifierGrads, ganDGrads, ganGGrads, stepInputs, type GraphLoss, type StepResult } from '../../services/core/backend/graph-steps.ts';

/** 'fast' and 'stock' run on one thread (what the kernel tests are about); 'fast2' adds one worker. */
export type Mode = 'cpu' | 'stock' | 'fast' | 'fast2';

export async function use(mode: Mode): Promise<void> {
  if (mode === 'cpu') await initBackend('cpu');
  else if (mode === 'fast2') await initBackend('wasm', undefined, { wasmKernels: 'fast', wasmThreads: 2 });
  else await initBackend('wasm', undefined, { wasmKernels: mode, wasmThreads: 1 });
}

/** max|a - b| / max(max|b|, 1e-12): b is the reference. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/** relErr over several tensors taken as one vector (a network's whole gradient). */
export function relErrAll(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  const flat = (xs: ArrayLike<number>[]): number[] => xs.flatMap((x) => Array.from(x));
  return relErr(flat(a), flat(b));
}

export function backendDataIds(): number {
  return (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
}

/** Direct loops over the definition, accumulated in float64; x (B,H,W,ci), dy (B,Ho,Wo,co). */
function filterGradReference(x: Float32Array, dy: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array {
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co,
    filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const acc = new Float64Array(kh * kw * ci * co);
  for (let b = 0; b < nb; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const dyBase = ((b * ho + oy) * wo + ox) * co;
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * sh + ky - top;
          if (y < 0 || y >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * sw + kx - left;
            if (xx < 0 || xx >= w) continue;
            const xBase = ((b * h + y) * w + xx) * ci;
            const wBase = (ky * kw + kx) * ci * co;
            for (let c = 0; c < ci; c++) {
              const xv = x[xBase + c];
              const row = wBase + c * co;
              for (let o = 0; o < co; o++) acc[row + o] += xv * dy[dyBase + o];
            }
          }
        }
      }
    }
  }
  return Float32Array.from(acc);
}

const referenceKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const cpu = backend as tf.KernelBackend;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape,
    a.strides, 1, a.pad, a.dimRoundingMode, false, tf.backend_util.convertConv2DDataFormat(a.dataFormat));
  const values = filterGradReference(cpu.readSync(x.dataId) as Float32Array, cpu.readSync(dy.dataId) as Float32Array, info);
  return { dataId: cpu.write(values, a.filterShape, 'float32'), shape: [...a.filterShape], dtype: 'float32' };
};

let stockCpuFilterGrad: tf.KernelConfig | undefined;

/** Swaps the cpu backend's Conv2DBackpropFilter for the float64 reference (or back). */
export function useReferenceFilterGrad(on: boolean): void {
  const current = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  stockCpuFilterGrad ??= current;
  tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel(on ? { kernelName: 'Conv2DBackpropFilter', backendName: 'cpu', kernelFunc: referenceKernel }
    : stockCpuFilterGrad as tf.KernelConfig);
}

/** Seeded values in [-1, 1) for a shape, identical on every backend. */
export function values(shape: readonly number[], seed: number): Float32Array {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export interface StepValues { losses: number[]; nets: Record<string, Float32Array[]> }

export function readGrads(r: StepResult): Float32Array[] {
  const out = Object.values(r.grads).map((g) => g.dataSync() as Float32Array);
  tf.dispose([r.loss, ...Object.values(r.grads)]);
  return out;
}

/** One D step and one G step (or one classifier step) from fixed parameters and inputs. */
export async function graphStep(mode: Mode, name: GraphName, loss: GraphLoss, batch: number): Promise<StepValues> {
  await use(mode);
  const graph = buildGraph(name);
  const { real, z, labels } = stepInputs(batch, graph.kind === 'gan' ? graph.zDim : 1, 5);
  try {
    if (graph.kind === 'classifier') {
      const p = initParams(graph.net.params, 3);
      const r = classifierGrads(graph, p, real, labels);
      const l = r.loss.dataSync()[0];
      const grads = readGrads(r);
      disposeParams(p);
      return { losses: [l], nets: { classifier: grads } };
    }
    const gp = initParams(graph.g.params, 1);
    const dp = initParams(graph.d.params, 2);
    const d = ganDGrads(graph, gp, dp, real, z, loss);
    const g = ganGGrads(graph, gp, dp, z, loss);
    const losses = [d.loss.dataSync()[0], g.loss.dataSync()[0]];
    const nets = { D: readGrads(d), G: readGrads(g) };
    disposeParams(gp);
    disposeParams(dp);
    return { losses, nets };
  } finally {
    tf.dispose([real, z, labels]);
  }
}
