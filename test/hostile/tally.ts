// The bookkeeping of the hostile-input suite. Every surface (gRPC methods, NATS subjects, the
// config loader and CLI, checkpoint and data files) generates named cases from a seed and hands
// each to `Tally.run`, which tries it against the real target and records one outcome:
//   ok            a clear error: the expected kind (gRPC status, reply code, error class), a
//                 message that names the field or file and stays bounded
//   unclear       an error of the wrong kind (INTERNAL, UNKNOWN, a TypeError from deep inside),
//                 a message that names nothing or echoes the input whole, or no error at all
//   crash         the target process died or stopped SERVING
//   state change  the target's state digest differs from the one taken before the case
// The suite asserts >= 1000 distinct cases and no outcome other than ok.
import { mulberry32 } from '../../services/data/seed.ts';

/** The longest error message a hostile case may get back (the data plane clips at 1024). */
export const MAX_MESSAGE_CHARS = 1200;

export type Outcome = 'ok' | 'unclear' | 'crash' | 'state-change';

/** What a target answered: the error's kind and message, or nothing (the call succeeded). */
export interface Answer {
  /** e.g. 'INVALID_ARGUMENT', 'bad-request', 'ConfigError'; undefined when the call succeeded. */
  kind?: string;
  message?: string;
}

export interface CaseSpec {
  /** Readable and unique within the surface, e.g. "Generate: id.step = 4294967295". */
  name: string;
  /** Error kinds that count as a clear answer. */
  expect: readonly string[];
  /** The message must match (e.g. name the field); default: any non-empty message. */
  names?: RegExp;
  /** Sends the case; returns what came back. */
  send(): Promise<Answer>;
}

/** Hooks of one target: its state digest and whether it still lives. */
export interface Target {
  stateHash(): Promise<string>;
  /** undefined when alive and serving; otherwise what is wrong. */
  health(): Promise<string | undefined>;
}

export interface Violation {
  surface: string;
  name: string;
  outcome: Outcome;
  detail: string;
}

export class Tally {
  readonly names = new Set<string>();
  tried = 0;
  crashes = 0;
  stateChanges = 0;
  unclear = 0;
  readonly violations: Violation[] = [];
  readonly perSurface = new Map<string, number>();
  /** The slowest cases (ms), to keep the suite's runtime in view. */
  private readonly slow: [number, string][] = [];

  /**
   * Runs `cases` against `target`, one at a time; health is checked after every case. The state
   * digest is taken first and compared after every `every` cases and after the last (a rejected
   * input changes nothing, so it must stay equal); a change is reported with the cases since the
   * last comparison. `every` 1 pins a change on its case; a larger one keeps a slow digest
   * (weights streamed out of a process) affordable.
   */
  async runAll(surface: string, target: Target, cases: Iterable<CaseSpec>, every = 1): Promise<void> {
    let before = await target.stateHash();
    let since: string[] = [];
    for (const c of cases) {
      since.push(c.name);
      const outcome = await this.run(surface, target, c);
      if (outcome !== 'ok' || since.length < every) continue;
      before = await this.compare(surface, target, before, since);
      since = [];
    }
    if (since.length > 0) await this.compare(surface, target, before, since);
  }

  /** The digest now; a state change (naming `cases`) when it differs from `before`. */
  private async compare(surface: string, target: Target, before: string, cases: string[]): Promise<string> {
    const now = await target.stateHash();
    if (now !== before) this.record(surface, cases.length === 1 ? cases[0] : `one of ${cases.join(' | ')}`, 'state-change', `${before.slice(0, 40)} -> ${now.slice(0, 40)}`);
    return now;
  }

  private async run(surface: string, target: Target, c: CaseSpec): Promise<Outcome> {
    const id = `${surface}: ${c.name}`;
    if (this.names.has(id)) throw new Error(`duplicate hostile case name: ${id}`);
    this.names.add(id);
    this.tried++;
    this.perSurface.set(surface, (this.perSurface.get(surface) ?? 0) + 1);
    let answer: Answer;
    const start = Date.now();
    try {
      answer = await c.send();
    } catch (err) {
      answer = { kind: `threw ${(err as Error)?.name ?? typeof err}`, message: (err as Error)?.message ?? String(err) };
    }
    this.slow.push([Date.now() - start, id]);
    this.slow.sort((a, b) => b[0] - a[0]).splice(5);
    const sick = await target.health();
    if (sick !== undefined) return this.record(surface, c.name, 'crash', sick);
    const problem = judge(c, answer);
    if (problem) return this.record(surface, c.name, 'unclear', problem);
    return 'ok';
  }

  private record(surface: string, name: string, outcome: Outcome, detail: string): Outcome {
    if (outcome === 'crash') this.crashes++;
    if (outcome === 'state-change') this.stateChanges++;
    if (outcome === 'unclear') this.unclear++;
    this.violations.push({ surface, name, outcome, detail });
    return outcome;
  }

  summary(): Record<string, unknown> {
    return {
      hostile_cases_tried: this.tried, distinct: this.names.size, crashes: this.crashes, state_changes: this.stateChanges,
      unclear_errors: this.unclear, per_surface: Object.fromEntries(this.perSurface),
      slowest_ms: Object.fromEntries(this.slow.map(([ms, id]) => [id, ms])),
    };
  }
}

function judge(c: CaseSpec, a: Answer): string | undefined {
  if (a.kind === undefined) return 'accepted: expected an error';
  if (!c.expect.includes(a.kind)) return `answered ${a.kind} (expected ${c.expect.join(' or ')}): ${(a.message ?? '').slice(0, 300)}`;
  // A successful answer (a read-only call, an answered retry) or a client-side cancel has no message.
  if (['OK', 'NOT_APPLIED', 'CANCELLED'].includes(a.kind)) return undefined;
  const m = a.message ?? '';
  if (m.length === 0) return `${a.kind} with an empty message`;
  if (m.length > MAX_MESSAGE_CHARS) return `${a.kind} with an unbounded message (${m.length} chars): ${m.slice(0, 200)}...`;
  if (c.names && !c.names.test(m)) return `${a.kind} message does not match ${c.names}: ${m.slice(0, 300)}`;
  return undefined;
}

/** A seeded source of hostile values: the same seed gives the same cases, in the same order. */
export class Hostile {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }

  /** A copy of `b` with bit `bit` of byte `at` flipped. */
  static flip(b: Uint8Array, at: number, bit: number): Buffer {
    const out = Buffer.from(b);
    out[at] ^= 1 << bit;
    return out;
  }
}

/** The kinds of JSON value a field can wrongly hold, by readable name. */
export const WRONG_JSON: readonly [string, unknown][] = [
  ['null', null], ['true', true], ['string "7"', '7'], ['empty string', ''], ['array', [1, 2]], ['object', { a: 1 }],
  ['-1', -1], ['1.5', 1.5], ['2^53', 2 ** 53], ['1e308', 1e308], ['-0.0001', -0.0001], ['long string', 'y'.repeat(5_000)],
];
