// Whether a big call is split is decided by its measured time, per kernel and call signature
// (input shapes and attrs): on two idle cores a split of a 100+ MFLOP call ran 1.3-1.7x faster,
// but with the cores taken by other processes (the machines here are shared; Linux's autogroup
// then gives this process about one core however many threads it has) the same splits ran
// 0.7-1.1x, slower than one thread. So each signature is timed both ways, the faster is used,
// and every EXPLORE_EVERY-th call takes the other way to notice when the load changes.
// This is only sound because every split kernel is bit-identical to its one-thread kernel
// (kernels-threads.test.ts): the choice changes the time, never a result.

/** One call in this many takes the way not preferred now. */
const EXPLORE_EVERY = 16;
/** Weight of the newest time in the running mean. */
const ALPHA = 0.25;
/** Calls each way before the preference counts; the first only warms up (buffers, XNNPACK operators). */
const MIN_SAMPLES = 3;

interface Timings {
  /** Running mean ms: [one thread, split]. */
  ms: [number, number];
  n: [number, number];
  calls: number;
}

export class SplitGovernor {
  private readonly timings = new Map<string, Timings>();

  /** Whether the call with this signature should be split now. */
  choose(signature: string): boolean {
    let t = this.timings.get(signature);
    if (t == null) {
      t = { ms: [0, 0], n: [0, 0], calls: 0 };
      this.timings.set(signature, t);
    }
    t.calls += 1;
    if (t.n[1] < MIN_SAMPLES) return true;
    if (t.n[0] < MIN_SAMPLES) return false;
    const preferSplit = t.ms[1] <= t.ms[0];
    return t.calls % EXPLORE_EVERY === 0 ? !preferSplit : preferSplit;
  }

  record(signature: string, split: boolean, ms: number): void {
    const t = this.timings.get(signature);
    if (t == null) return;
    const i = split ? 1 : 0;
    if (t.n[i] === 1) t.ms[i] = ms;
    else if (t.n[i] > 1) t.ms[i] = (1 - ALPHA) * t.ms[i] + ALPHA * ms;
    t.n[i] += 1;
  }

  /** The running means, for logs and tests: signature -> [one thread ms, split ms]. */
  snapshot(): Map<string, [number, number]> {
    return new Map([...this.timings].map(([k, t]) => [k, [t.ms[0], t.ms[1]]]));
  }

  reset(): void {
    this.timings.clear();
  }
}

/** The signature of a kernel call: its name, input shapes and attrs. */
export function callSignature(kernel: string, inputs: Record<string, { shape: number[] } | undefined>, attrs: unknown): string {
  const shapes = Object.entries(inputs).map(([k, t]) => `${k}:${t?.shape.join('x') ?? '-'}`).join(',');
  return `${kernel}|${shapes}|${JSON.stringify(attrs ?? {})}`;
}
