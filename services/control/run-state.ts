// Durable run state in a JetStream KV bucket (`gantry_runs`, one key per run id). Every write is a
// compare-and-set on the revision the writer last read, so two schedulers cannot both advance a
// run: the second writer's update fails with RunStateConflict and it must stop.
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { MessageError, RunStateConflict } from './errors.ts';
import { checkpointRefSchema, decodeMessage, encodeMessage, errorDetailsSchema } from './messages.ts';
import { RUNS_BUCKET, runIdSchema } from './subjects.ts';

export const RUN_STATUSES = ['running', 'recovering', 'paused', 'completed', 'failed', 'stopped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** A run in one of these states is never advanced again. */
export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed'];

const count = z.number().int().nonnegative();

export const runStateSchema = z.strictObject({
  runId: runIdSchema,
  status: z.enum(RUN_STATUSES),
  /** The next iteration to run (iterations completed so far). */
  iteration: count,
  iterations: count,
  /** The last complete checkpoint, its path relative to the run directory. */
  lastCheckpoint: checkpointRefSchema.nullable(),
  /** Bumped each time the scheduler (re)forms the set of services and restores them. */
  generation: count,
  /** sha256 of the canonical JSON of the run's GanTrainConfig. */
  configHash: z.string().regex(/^[0-9a-f]{64}$/),
  scheduler: z.strictObject({ instance: z.string(), pid: z.number().int(), host: z.string() }).nullable(),
  /** Why the run failed (status 'failed') or stopped. */
  error: errorDetailsSchema.optional(),
  updatedAt: z.iso.datetime(),
});
export type RunState = z.infer<typeof runStateSchema>;

export interface VersionedRunState {
  readonly state: RunState;
  readonly revision: number;
}

export class RunStateStore {
  private constructor(private readonly kv: KV) {}

  /** Opens the bucket; with `create` it is made when missing (idempotent across processes). */
  static async open(nc: NatsConnection, opts: { create: boolean; bucket?: string } = { create: true }): Promise<RunStateStore> {
    const kvm = new Kvm(nc);
    const bucket = opts.bucket ?? RUNS_BUCKET;
    const kv = opts.create ? await kvm.create(bucket, { history: 10 }) : await kvm.open(bucket);
    return new RunStateStore(kv);
  }

  async get(runId: string): Promise<VersionedRunState | null> {
    const entry = await this.kv.get(runId);
    if (!entry || entry.operation !== 'PUT') return null;
    const what = `run state ${RUNS_BUCKET}/${runId}`;
    const state = decodeMessage(runStateSchema, entry.value, what);
    // update() writes under state.runId: an entry naming another run would redirect the writes.
    if (state.runId !== runId) throw new MessageError('runId', `${what}: runId: expected ${JSON.stringify(runId)} (the key), found ${JSON.stringify(state.runId)}`);
    return { state, revision: entry.revision };
  }

  /** Writes the first state of a run; fails with RunStateConflict when one exists. */
  async create(state: Omit<RunState, 'updatedAt'>): Promise<VersionedRunState> {
    const full = stamp(state);
    try {
      const revision = await this.kv.create(full.runId, encodeMessage(full));
      return { state: full, revision };
    } catch (err) {
      if (isWrongSequence(err)) throw new RunStateConflict(full.runId, 0, { cause: err });
      throw err;
    }
  }

  /** Compare-and-set: applies `patch` on top of `prev` only if nobody wrote since `prev`. */
  async update(prev: VersionedRunState, patch: Partial<Omit<RunState, 'runId' | 'updatedAt'>>): Promise<VersionedRunState> {
    const next = stamp({ ...prev.state, ...patch });
    try {
      const revision = await this.kv.update(next.runId, encodeMessage(next), prev.revision);
      return { state: next, revision };
    } catch (err) {
      if (isWrongSequence(err)) throw new RunStateConflict(next.runId, prev.revision, { cause: err });
      throw err;
    }
  }

  async runIds(): Promise<string[]> {
    const ids = new Set<string>(); // keys() may name a key once per stored revision
    for await (const k of await this.kv.keys()) ids.add(k);
    return [...ids].sort();
  }
}

function stamp(state: Omit<RunState, 'updatedAt'> & { updatedAt?: string }): RunState {
  return runStateSchema.parse({ ...state, updatedAt: new Date().toISOString() });
}

function isWrongSequence(err: unknown): boolean {
  const codes: number[] = [JetStreamApiCodes.StreamWrongLastSequence, JetStreamApiCodes.StreamWrongLastSequenceUnknown];
  if (err instanceof JetStreamApiError) return codes.includes(err.code);
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof JetStreamApiError && codes.includes(cause.code);
}
