// A model's forward pass and its backward pass as a chain over its segments (model.ts Segment),
// with a collective between segments at each batch norm. tfjs's tape is synchronous, so no tape
// spans an await: the forward pass records each segment on a tape of its own (tape.ts) and keeps
// its input, and the backward pass takes one vector-Jacobian product per segment from that
// recording with the upstream gradient - the same chaining the generator and the discriminator do
// across processes. Each segment's forward ops run once (before tape.ts they ran again in the
// backward pass: a quarter of the workshop classifier's replica step).
//
//   forward:  h_0 = x;  z_k = seg_k(h_k);  h_{k+1} = BN_k(z_k)  (group moments);  out = seg_last(h_last)
//   backward: g = dL/dout;  for k = last..0:  [g = BN_k^T(g) (group sums)];  (g, dθ_k) = VJP(seg_k, h_k, g)
import { tf } from '../tf.ts';
import type { Model, Segment } from '../model.ts';
import { bnBackward, bnForward, type BnCache, type BnContext } from './sync-bn.ts';
import { ReplicaConfigError } from './errors.ts';
import { disposeRecorded, recordForward, vjp, type Recorded } from './tape.ts';

/** A forward pass held for its backward pass. Owns `inputs` from index 1, `tapes`, `caches` and `out`. */
export interface ChainRun {
  segments: readonly Segment[];
  /** h_k, the input of segment k: (b, ...) each; inputs[0] is the caller's x. */
  inputs: tf.Tensor[];
  /** Segment k's recorded forward pass (its output z_k), used up by the backward pass. */
  tapes: Recorded[];
  /** One per batch norm, in segment order. */
  caches: BnCache[];
  /** The last segment's output (b, outputs): tapes[last].out. */
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

/**
 * Runs the segments on each of xs (b, ...) in lockstep (one collective per batch-norm sum for all
 * of them); `tag` prefixes the collective tags ("x", "real+fake", "fake").
 */
export async function forwardChains(segments: readonly Segment[], xs: readonly tf.Tensor[], ctx: BnContext, tag: string): Promise<ChainRun[]> {
  const inputs: tf.Tensor[][] = xs.map((x) => [x]);
  const tapes: Recorded[][] = xs.map(() => []);
  const caches: BnCache[][] = xs.map(() => []);
  const disposeRun = (i: number) => {
    tf.dispose(inputs[i].slice(1));
    for (const t of tapes[i]) disposeRecorded(t);
    for (const c of caches[i]) tf.dispose([c.xhat, c.rstd]);
  };
  try {
    for (const seg of segments) {
      const recs = inputs.map((list) => {
        const h = list[list.length - 1];
        return recordForward(() => seg.apply(h));
      });
      recs.forEach((r, i) => tapes[i].push(r));
      if (!seg.bn) {
        return recs.map((rec, i) => ({
          segments, inputs: inputs[i], tapes: tapes[i], caches: caches[i], out: rec.out,
          dispose: () => disposeRun(i),
        }));
      }
      const { ys, caches: cs } = await bnForward(recs.map((r) => r.out), seg.bn, ctx, `${tag}/${seg.name}`);
      ys.forEach((y, i) => inputs[i].push(y));
      cs.forEach((c, i) => caches[i].push(c));
    }
  } catch (err) {
    xs.forEach((_, i) => disposeRun(i));
    throw err;
  }
  xs.forEach((_, i) => disposeRun(i));
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
 * Back-propagates dOuts[i] = dL/dout_i (b, outputs) through runs[i] (from one forwardChains call),
 * in lockstep, adding this rank's parameter gradients into `grads` (pass 0's first, then pass 1's
 * ...; none are computed when `grads` is undefined: the G-step needs only dL/dx; one map per pass
 * keeps each pass's gradients apart, for exact sums); returns dL/dx_i (b, ...) per pass when
 * `inputGrad` (the caller owns them). Does not dispose the runs.
 */
export async function backwardChains(
  runs: readonly ChainRun[],
  dOuts: readonly tf.Tensor[],
  ctx: BnContext,
  grads: GradMap | readonly GradMap[] | undefined,
  inputGrad: boolean,
  tag: string,
): Promise<tf.Tensor[]> {
  const into = (i: number): GradMap | undefined => (grads === undefined || grads instanceof Map ? grads : (grads as readonly GradMap[])[i]);
  const segments = runs[0].segments;
  let dys = [...dOuts];
  let owned = false; // whether dys are ours to dispose (dOuts are the caller's)
  const release = () => { if (owned) tf.dispose(dys); };
  let cache = runs[0].caches.length;
  try {
    for (let k = segments.length - 1; k >= 0; k--) {
      const seg = segments[k];
      if (seg.bn) {
        cache--;
        const back = await bnBackward(dys, runs.map((r) => r.caches[cache]), ctx, `${tag}/${seg.name}`);
        for (const [i, { dgamma, dbeta }] of back.entries()) {
          const g = into(i);
          if (g) {
            accumulate(g, seg.bn.gamma, dgamma);
            accumulate(g, seg.bn.beta, dbeta);
          } else {
            tf.dispose([dgamma, dbeta]);
          }
        }
        release();
        dys = back.map((b) => b.dz);
        owned = true;
      }
      const withInput = k > 0 || inputGrad;
      const params = grads ? seg.params : [];
      if (!withInput && params.length === 0) break;
      const next = runs.map((run, i) => {
        const xs = withInput ? [run.inputs[k], ...params] : [...params];
        const g = vjp(run.tapes[k], xs, dys[i]);
        const paramGrads = withInput ? g.slice(1) : g;
        const target = into(i);
        if (target) params.forEach((v, j) => accumulate(target, v, paramGrads[j]));
        return withInput ? g[0] : undefined;
      });
      release();
      dys = next.filter((t): t is tf.Tensor => t !== undefined);
      owned = withInput;
    }
  } catch (err) {
    release();
    throw err;
  }
  return inputGrad ? dys : [];
}
