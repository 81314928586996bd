// The control plane of a data-parallel worker group (classifier replicas). Commands go from the
// classifier scheduler to ONE worker on <prefix>.<run>.cmd.worker.<key> (request/reply, JSON,
// strict zod schemas as in messages.ts); each worker registers and heartbeats in the JetStream KV
// bucket `gantry_workers` under <run>.<key> (membership.ts). Tensors never travel here: weights
// move over gRPC (WorkerService, proto/gantry/v1/worker.proto), gradients over the collective.
//
// Every command carries (run, generation); a worker executes only commands of the generation it
// last prepared for, so a superseded scheduler or an aborted generation cannot move it.
import { z } from 'zod';
import { runIdSchema } from './subjects.ts';

const count = z.number().int().nonnegative();
const finite = z.number().finite();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const stamped = { run: runIdSchema, generation: count };

/** One rank of a generation: where its collective endpoint (its gRPC server) listens. */
export const memberSchema = z.strictObject({
  rank: count,
  key: z.string().min(1),
  host: z.string(),
  addr: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port'),
});
export type Member = z.infer<typeof memberSchema>;

export const workerCommandSchema = z.discriminatedUnion('type', [
  /** Fence: abort any collective of an older generation, roll back an update of step `step` that
   *  was applied but never committed, answer whether the replica now holds step `step`'s state.
   *  A worker without a model (or with another config's) builds the seeded initial one, so that
   *  every member can receive weights (LoadWeights) before it joins. `committed`: step `step`
   *  - 1 and the generation whose group committed it, when this scheduler saw that commit; a
   *  replica whose last step is still pending (applied, its commit never confirmed by a next
   *  `step`) keeps it only when it applied it in that generation, and rolls it back otherwise
   *  (another group may have redone that step). */
  z.strictObject({
    type: z.literal('prepare'), ...stamped, step: count, config: z.record(z.string(), z.unknown()), configHash: sha256Hex,
    committed: z.strictObject({ step: count, generation: count }).optional(),
  }),
  /** Take rank `rank` of `members`; without the state of step `step`, build it: the seeded
   *  initial weights (source 'init', step 0 only) or rank 0's snapshot over gRPC (source 'peer'). */
  z.strictObject({
    type: z.literal('join'), ...stamped, step: count, rank: count, members: z.array(memberSchema).min(1),
    source: z.enum(['init', 'peer', 'have']),
    /** The run's ClassifierTrainConfig; validated by the worker, identified by configHash. */
    config: z.record(z.string(), z.unknown()),
    configHash: sha256Hex,
  }),
  /** Arm WorkerService.LoadWeights for exactly one snapshot: the one that has applied `step`
   *  steps (lastApplied = (step - 1, 0)), pushed next by the scheduler of this (prepared)
   *  generation. Any other LoadWeights is refused (FAILED_PRECONDITION); a prepare disarms. */
  z.strictObject({ type: z.literal('load'), ...stamped, step: count }),
  /** One data-parallel step: the replica's slice of global batch `step`, gradients summed over the
   *  group, the same Adam update on every rank. Idempotent per (generation, step). */
  z.strictObject({ type: z.literal('step'), ...stamped, step: count }),
  /** Inference-mode loss and accuracy of the current weights over a split (rank 0 is asked). */
  z.strictObject({ type: z.literal('evaluate'), ...stamped, split: z.enum(['validation', 'test']) }),
  /** sha256 of the replica's model tensors and Adam slots (ranks must agree bit for bit). */
  z.strictObject({ type: z.literal('hash'), ...stamped }),
]);
export type WorkerCommand = z.infer<typeof workerCommandSchema>;
export type WorkerCommandType = WorkerCommand['type'];
export type WorkerCommandOf<T extends WorkerCommandType> = Extract<WorkerCommand, { type: T }>;

const stateReport = { applied: count, weightsHash: sha256Hex };

export const workerReplySchemas = {
  prepare: z.strictObject({ ok: z.literal(true), atStep: z.boolean(), applied: count.nullable() }),
  join: z.strictObject({ ok: z.literal(true), ...stateReport }),
  load: z.strictObject({ ok: z.literal(true) }),
  step: z.strictObject({
    ok: z.literal(true),
    /** Global mean loss and accuracy over the whole global batch (all ranks agree). */
    loss: finite, accuracy: finite, applied: z.boolean(), images: count,
    /** Seconds of the step on this rank, and of them the seconds spent waiting on collectives:
     *  all of them (waitSeconds), the fused gradient sum alone (gradsWaitSeconds; the rest is
     *  sync batch norm's), and how many collectives the step made (0 for a group of one). */
    seconds: z.number().nonnegative(), waitSeconds: z.number().nonnegative(),
    gradsWaitSeconds: z.number().nonnegative(), collectives: count,
  }),
  evaluate: z.strictObject({ ok: z.literal(true), loss: finite, accuracy: finite, count }),
  hash: z.strictObject({ ok: z.literal(true), ...stateReport }),
} as const satisfies Record<WorkerCommandType, z.ZodType>;
export type WorkerOkReply<T extends WorkerCommandType> = z.infer<(typeof workerReplySchemas)[T]>;
export type WorkerReplyBody<T extends WorkerCommandType> = Omit<WorkerOkReply<T>, 'ok'>;

/** A worker's registration, rewritten every heartbeat; deleted on a clean exit. */
export const registrationSchema = z.strictObject({
  run: runIdSchema,
  /** The KV key suffix and command subject token of this process start. */
  key: z.string().min(1),
  host: z.string(),
  pid: z.number().int().positive(),
  addr: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port'),
  /** True once the worker answers commands (gRPC server up, NATS subscribed). */
  ready: z.boolean(),
  generation: count.nullable(),
  rank: count.nullable(),
  /** Steps included in the replica's weights; null before it has any. */
  applied: count.nullable(),
  ts: z.iso.datetime(),
});
export type Registration = z.infer<typeof registrationSchema>;
