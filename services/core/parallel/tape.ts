// A segment's forward pass recorded on tfjs's gradient tape, for a vector-Jacobian product taken
// later, after the awaits of the collectives between segments (chain.ts). tfjs's public gradient
// calls (tf.grad, engine.gradients) run the forward pass and the backward pass in one synchronous
// call, so the chain used to run each segment's forward a second time in its backward pass. Here
// the forward runs once, under the engine's tape (its startTape/endTape), and the recorded nodes -
// each with the tensors its gradient needs, kept by the engine - are handed back to
// engine.gradients at the backward pass: its own filtering, back-propagation and clean-up, with a
// forward function that replays the recording instead of recomputing it. The same kernels run on
// the same saved values, so the gradients are bit-identical to the recomputed ones
// (test/unit/core-parallel-tape.test.ts).
//
// This reaches two members tfjs-core does not type as public (Engine.startTape/endTape and
// EngineState.activeTape, tfjs-core 4.x). Where they are missing, or a tape is already open
// (a caller inside its own tf.grad), recording is skipped and the backward pass recomputes the
// forward as before.
import { tf } from '../tf.ts';

interface TapeNode {
  saved?: tf.Tensor[];
}

interface EngineTape {
  startTape(): void;
  endTape(): void;
  state: { gradientDepth: number; activeTape: TapeNode[] | null };
}

function engineTape(): EngineTape | undefined {
  const e = tf.engine() as unknown as Partial<EngineTape>;
  const ok = typeof e.startTape === 'function' && typeof e.endTape === 'function'
    && e.state !== undefined && typeof e.state.gradientDepth === 'number';
  return ok ? (e as EngineTape) : undefined;
}

/** One forward pass of f, held for one vjp. Owns `out` and the recorded nodes' saved tensors. */
export interface Recorded {
  /** f's output. */
  readonly out: tf.Tensor;
  /** Absent when recording was not possible: vjp re-runs f. */
  nodes?: TapeNode[];
  /** The forward pass again, for that fallback. */
  readonly rerun: () => tf.Tensor;
}

/** Runs f (tidied) once, recording its kernels on the tape when no tape is already open. */
export function recordForward(f: () => tf.Tensor): Recorded {
  const eng = engineTape();
  if (!eng || eng.state.gradientDepth !== 0) return { out: tf.tidy(f), rerun: f };
  const before = eng.state.activeTape;
  eng.startTape(); // gradientDepth 0 -> 1 opens a fresh activeTape
  const nodes = eng.state.activeTape;
  if (!Array.isArray(nodes)) { // not the engine this was written against
    eng.endTape();
    return { out: tf.tidy(f), rerun: f };
  }
  let out: tf.Tensor | undefined;
  try {
    out = tf.tidy(f);
  } finally {
    eng.endTape();
    eng.state.activeTape = before;
    if (out === undefined) disposeSaved(nodes);
  }
  return { out, nodes, rerun: f };
}

function disposeSaved(nodes: readonly TapeNode[]): void {
  for (const node of nodes) if (node.saved) tf.dispose(node.saved);
}

/**
 * d(out)/d(xs) contracted with dy (out's shape): one tensor per x, the caller's to dispose. Uses up
 * the recording (its saved tensors are released); a second call re-runs the forward pass.
 */
export function vjp(rec: Recorded, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const eng = engineTape();
  const nodes = rec.nodes;
  if (!eng || !nodes || eng.state.gradientDepth !== 0) {
    const { value, grads } = tf.engine().gradients(rec.rerun, xs, dy);
    value.dispose();
    return grads;
  }
  rec.nodes = undefined;
  try {
    // engine.gradients opens a fresh tape, "runs" the forward by putting the recorded nodes on it,
    // filters them from xs to out, back-propagates dy, and disposes the nodes' saved tensors.
    return tf.engine().gradients(() => {
      eng.state.activeTape?.push(...nodes);
      return rec.out;
    }, xs, dy).grads;
  } finally {
    disposeSaved(nodes); // already done by the engine on success; idempotent
  }
}

/** Releases what a recording holds (its output and, if unused, its saved tensors). */
export function disposeRecorded(rec: Recorded): void {
  if (rec.nodes) disposeSaved(rec.nodes);
  rec.nodes = undefined;
  rec.out.dispose();
}
