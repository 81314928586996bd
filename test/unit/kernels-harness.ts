// Shared by the kernels-*.test.ts files: running the same computation on cpu and on wasm from
// identical inputs, the relative error the brief defines, and a float64 reference for
// Conv2DBackpropFilter that is fast enough to back whole-step comparisons (the cpu backend's
// own kernel takes seconds per call at the presets' 64 -> 128 channel shapes), and the gradients
// of one D + G step (or classifier step) of a real preset (services/core/backend/preset-steps.ts:
// the nodes and classifier step training runs) on a given backend.
import { tf } from '../../services/core/tf.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { classifierSetup, ganNodes, type GanStepSpec, type PresetName } from '../../services/core/backend/preset-steps.ts';
import { classifierGrads } from '../../services/core/classifier/step.ts';
import { CLASSIFIER_PRESETS, type ClassifierPreset } from '../../services/core/presets.ts';

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

/** The values of `tensors`, which are disposed. */
export function readGrads(tensors: tf.Tensor[]): Float32Array[] {
  const out = tensors.map((g) => g.dataSync() as Float32Array);
  tf.dispose(tensors);
  return out;
}

/** A GAN preset (mlp, dcgan, infogan, with arch variants and a loss) or a classifier preset. */
export type StepSpec = GanStepSpec | { preset: ClassifierPreset; batch: number };

const isClassifier = (p: PresetName): p is ClassifierPreset => (CLASSIFIER_PRESETS as readonly string[]).includes(p);

/**
 * The gradients of one step from freshly built models (seeded, so identical on every backend),
 * without any update. A GAN preset gives three:
 *   D         dL_D/dparams of D-step (0, 0) (DiscriminatorNode.stepGradients; the WGAN-GP penalty's
 *             second-order gradient included)
 *   G         dL_G/dparams of G-step 0 through D and G on one tape (GeneratorNode.objectiveGradients
 *             with DiscriminatorNode.generatorLoss, as the in-process trainer)
 *   upstream  dL_G/dG(z') (B, 28, 28, 1), what the discriminator service answers in the G-step
 * and the losses [L_D, L_G, L_G]; a classifier preset its gradients (classifierGrads) and its loss.
 */
export async function presetStepValues(mode: Mode, spec: StepSpec): Promise<StepValues> {
  await use(mode);
  if (isClassifier(spec.preset)) {
    const c = classifierSetup(spec.preset, spec.batch);
    try {
      const r = classifierGrads(c.model, c.x, c.labels);
      return { losses: [r.loss], nets: { classifier: readGrads(r.grads) } };
    } finally {
      c.dispose();
    }
  }
  const { g, d } = ganNodes(spec as GanStepSpec);
  const fake = g.generate(0, 0); // (B, 28, 28, 1) from z of D-step (0, 0)
  const real = d.realBatch(0, 0);
  const fakeG = g.generate(0, 1); // from z' of G-step 0 (k = 1)
  try {
    const ds = d.stepGradients(0, 0, real, fake);
    const nets: Record<string, Float32Array[]> = { D: readGrads(ds.grads) };
    const gs = g.objectiveGradients(0, (x) => d.generatorLoss(x));
    const lossG = gs.value.dataSync()[0];
    gs.value.dispose();
    nets.G = readGrads(gs.grads);
    const up = d.generatorGrad(0, fakeG);
    nets.upstream = readGrads([up.grad]);
    return { losses: [ds.lossD, lossG, up.lossG], nets };
  } finally {
    tf.dispose([fake, real, fakeG]);
    g.dispose();
    d.dispose();
  }
}
