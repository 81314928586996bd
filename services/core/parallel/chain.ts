// A model's forward pass and its backward pass as a chain over its segments (model.ts Segment),
// with a collective between segments at each batch norm. tfjs's tape is synchronous, so no tape
// spans an await: the forward pass keeps each segment's input, and the backward pass re-runs one
// segment at a time under its own tape (tf.engine().gradients with the upstream gradient, i.e. a
// vector-Jacobian product) - the same chaining the generator and the discriminator do across
// processes. Cost: each segment's forward ops run twice.
//
//   forward:  h_0 = x;  z_k = seg_k(h_k);  h_{k+1} = BN_k(z_k)  (group moments);  out = seg_last(h_last)
//   backward: g = dL/dout;  for k = last..0:  [g = BN_k^T(g) (group sums)];  (g, dθ_k) = VJP(seg_k, h_k, g)
import { tf } from '../tf.ts';
import type { Model, Segment } from '../model.ts';
import { bnBackward, bnForward, type BnCache, type BnContext } from './sync-bn.ts';
import { ReplicaConfigError } from './errors.ts';

/** A forward pass held for its backward pass. Owns `inputs` from index 1, `caches` and `out`. */
export interface ChainRun {
  segments: readonly Segment[];
  /** h_k, the input of segment k: (b, ...) each; inputs[0] is the caller's x. */
  inputs: tf.Tensor[];
  /** One per batch norm, in segment order. */
  caches: BnCache[];
  /** The last segment's output (b, outputs). */
  out: tf.Tensor;
  dispose(): void;
}

/** The model's segments, or ReplicaConfigError when it has none (a generator). */
export function segmentsOf(model: Model): readonly Segment[] {
  const segments = model.segments;
  if (!segments || segments.length === 0 || segments[segments.length - 1].bn) {
    throw new ReplicaConfigError('model.segments', 'a segmented model whose last segment has no batch norm', model.role);
  }
  return segments;
}

/** Runs the segments on x (b, ...); `pass` prefixes the collective tags ("real", "fake", "x"). */
export async function forwardChain(segments: readonly Segment[], x: tf.Tensor, ctx: BnContext, pass: string): Promise<ChainRun> {
  const inputs: tf.Tensor[] = [x];
  const caches: BnCache[] = [];
  const dispose = () => {
    tf.dispose(inputs.slice(1));
    for (const c of caches) tf.dispose([c.xhat, c.rstd]);
  };
  try {
    for (const seg of segments) {
      const z = tf.tidy(() => seg.apply(inputs[inputs.length - 1]));
      if (!seg.bn) return { segments, inputs, caches, out: z, dispose: () => { dispose(); z.dispose(); } };
      try {
        const { y, cache } = await bnForward(z, seg.bn, ctx, `${pass}/${seg.name}`);
        inputs.push(y);
        caches.push(cache);
      } finally {
        z.dispose();
      }
    }
  } catch (err) {
    dispose();
    throw err;
  }
  throw new ReplicaConfigError('model.segments', 'a last segment without batch norm', 'none');
}

/** Gradients accumulated per variable; the caller disposes the tensors. */
export type GradMap = Map<tf.Variable, tf.Tensor>;

function accumulate(grads: GradMap, v: tf.Variable, g: tf.Tensor): void {
  const prev = grads.get(v);
  if (!prev) {
    grads.set(v, g);
    return;
  }
  grads.set(v, tf.add(prev, g));
  tf.dispose([prev, g]);
}

/**
 * Back-propagates dOut = dL/dout (b, outputs) through `run`, adding this rank's parameter gradients
 * into `grads`; returns dL/dx (b, ...) when `inputGrad` (the caller owns it). Does not dispose run.
 */
export async function backwardChain(run: ChainRun, dOut: tf.Tensor, ctx: BnContext, grads: GradMap, inputGrad: boolean): Promise<tf.Tensor | undefined> {
  let dy = dOut;
  let owned = false; // whether dy is ours to dispose (dOut is the caller's)
  const release = () => { if (owned) dy.dispose(); };
  let cache = run.caches.length;
  try {
    for (let k = run.segments.length - 1; k >= 0; k--) {
      const seg = run.segments[k];
      if (seg.bn) {
        const { dz, dgamma, dbeta } = await bnBackward(dy, run.caches[--cache], ctx);
        accumulate(grads, seg.bn.gamma, dgamma);
        accumulate(grads, seg.bn.beta, dbeta);
        release();
        dy = dz;
        owned = true;
      }
      const withInput = k > 0 || inputGrad;
      const xs = withInput ? [run.inputs[k], ...seg.params] : [...seg.params];
      const upstream = dy;
      const { value, grads: g } = tf.engine().gradients(() => seg.apply(run.inputs[k]), xs, upstream);
      value.dispose();
      const paramGrads = withInput ? g.slice(1) : g;
      seg.params.forEach((v, i) => accumulate(grads, v, paramGrads[i]));
      release();
      if (withInput) {
        dy = g[0];
        owned = true;
      } else {
        owned = false;
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return inputGrad ? dy : undefined;
}
