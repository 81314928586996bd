// The control plane's messages, one zod schema each. Everything that arrives over NATS is decoded
// with `decodeMessage`, so a malformed message fails with a MessageError naming its first bad
// field ("iteration: expected a non-negative integer, found -1") instead of an exception deep in a
// handler. Objects are strict: an unknown key is an error, not silently dropped.
import path from 'node:path';
import { z } from 'zod';
import { clipText } from '../telemetry/clip.ts';
import { ERROR_CODES, MessageError } from './errors.ts';
import { MEMBER_ROLES, runIdSchema } from './subjects.ts';

const count = z.number().int().nonnegative();
const finite = z.number().finite();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
/** Paths relative to the run directory, which only the scheduler mounts (KV's lastCheckpoint, logs). */
export const runRelativePath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'expected a path inside the run directory (relative, no ..)');

const stamped = { run: runIdSchema, generation: count };
/** Bound of a sample reply's PNG (base64 characters): well inside NATS' default 1 MB payload. */
export const MAX_SAMPLE_PNG_BASE64 = 700_000;
export const checkpointRefSchema = z.strictObject({ iteration: count, path: runRelativePath });
export type CheckpointRef = z.infer<typeof checkpointRefSchema>;

/** A restore names a complete checkpoint directory of its own iteration, checkpoints/iter-NNNNNN:
 *  never a .partial one, the run directory or another iteration's (the service cannot look: it
 *  mounts no run directory, and the snapshot the scheduler then streams must hold that progress). */
const restoreCheckpointSchema = checkpointRefSchema.refine(
  (r) => r.path === `checkpoints/iter-${String(r.iteration).padStart(6, '0')}`,
  { message: 'expected checkpoints/iter-NNNNNN of the checkpoint\'s own iteration', path: ['path'] },
);

// ---- commands (scheduler -> service, request/reply) -------------------------------------------
export const commandSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ping'), run: runIdSchema }),
  z.strictObject({ type: z.literal('d-step'), ...stamped, iteration: count, step: count }),
  z.strictObject({ type: z.literal('g-step'), ...stamped, iteration: count, step: count }),
  /** Checkpoint N: the service checks it has applied exactly iterations 0..N-1 and holds still; the
   *  scheduler then pulls its snapshot over gRPC (StreamWeights) and writes the files itself. */
  z.strictObject({ type: z.literal('checkpoint'), ...stamped, iteration: count }),
  z.strictObject({
    type: z.literal('restore'),
    ...stamped,
    /** The next iteration to run: the checkpoint's iteration, or 0 without one. */
    iteration: count,
    /** The run's GanTrainConfig; the service validates it with the training config schema. */
    config: z.record(z.string(), z.unknown()),
    configHash: sha256Hex,
    /** With a checkpoint the service starts from the seeded init, arms LoadWeights for the
     *  checkpoint's progress and refuses every other command until the scheduler has streamed
     *  the snapshot in (the path is the scheduler's, for logs: services mount no run directory). */
    checkpoint: restoreCheckpointSchema.nullable(),
  }),
  /** The fixed-z grid after `iteration` iterations, answered as PNG bytes (the scheduler writes the file). */
  z.strictObject({ type: z.literal('sample'), ...stamped, iteration: count }),
  /** Periodic evaluation of G after `iteration` iterations (the run config's evalEvery, evalSamples, classifier). */
  z.strictObject({ type: z.literal('eval'), ...stamped, iteration: count }),
]);
export type Command = z.infer<typeof commandSchema>;
export type CommandType = Command['type'];
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

// ---- replies ------------------------------------------------------------------------------------
// `lr` is the learning rate the role's next update uses (after decay), for metrics.jsonl.
export const dStepMetricsSchema = z.strictObject({
  lossD: finite, dReal: finite, dFake: finite, gp: finite.optional(), applied: z.boolean(), lr: finite,
});
export const gStepMetricsSchema = z.strictObject({
  lossG: finite, dFake: finite, gradNorm: finite, applied: z.boolean(), lr: finite,
});
// JSON has no NaN: a non-finite score travels as null (and metrics.jsonl, also JSON, holds null too).
const score = z.number().nullable();
/** An EvalResult (services/eval/evaluate.ts) as the generator scored it. */
export const evalScoresSchema = z.strictObject({
  mnistScore: score, fdFeatures: score.optional(), fdLogits: score.optional(),
  histogram: z.array(count), classesCovered: count, klUniform: score, samples: count,
});
export type EvalScores = z.infer<typeof evalScoresSchema>;

/** What a service computes on (BackendInfo of services/core/backend/select.ts), for run.json. */
export const backendReportSchema = z.strictObject({
  name: z.string(), device: z.string(), package: z.string().optional(), kernels: z.string().optional(),
});
export type BackendReport = z.infer<typeof backendReportSchema>;

export type DStepReplyMetrics = z.infer<typeof dStepMetricsSchema>;
export type GStepReplyMetrics = z.infer<typeof gStepMetricsSchema>;

export const errorDetailsSchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
  quantity: z.string().optional(),
  iteration: count.optional(),
  role: z.string().optional(),
  file: z.string().optional(),
});
export const errorReplySchema = z.strictObject({ ok: z.literal(false), error: errorDetailsSchema });
export type ErrorReply = z.infer<typeof errorReplySchema>;

/** The payload of a successful reply, per command type. */
export const okReplySchemas = {
  ping: z.strictObject({ ok: z.literal(true), role: z.enum(MEMBER_ROLES), instance: z.string(), generation: count.nullable() }),
  'd-step': z.strictObject({ ok: z.literal(true), metrics: dStepMetricsSchema }),
  'g-step': z.strictObject({ ok: z.literal(true), metrics: gStepMetricsSchema }),
  /** weightsHash: sha256 of the model and Adam state (a replica group's ranks must agree bit for bit). */
  checkpoint: z.strictObject({ ok: z.literal(true), iteration: count, weightsHash: sha256Hex.optional() }),
  restore: z.strictObject({ ok: z.literal(true), iteration: count, backend: backendReportSchema.optional() }),
  // An 8x8 grid of 28x28 tiles is about 30 KB of PNG: far below NATS' 1 MB payload limit.
  sample: z.strictObject({ ok: z.literal(true), iteration: count, pngBase64: z.base64().max(MAX_SAMPLE_PNG_BASE64) }),
  // scores null: evaluation is off on the generator (no usable classifier; its log says why, once).
  eval: z.strictObject({ ok: z.literal(true), iteration: count, scores: evalScoresSchema.nullable(), seconds: z.number().nonnegative() }),
} as const satisfies Record<CommandType, z.ZodType>;
export type OkReply<T extends CommandType> = z.infer<(typeof okReplySchemas)[T]>;

// ---- heartbeats, control, progress (publish/subscribe) -----------------------------------------
export const heartbeatSchema = z.strictObject({
  role: z.enum(MEMBER_ROLES),
  /** The rank of a replica group's member above 0 (absent: rank 0, or no group). */
  rank: z.number().int().min(1).max(1023).optional(),
  run: runIdSchema,
  /** Unique per process start: a restarted service is a new instance. */
  instance: z.string().min(1),
  pid: z.number().int().positive(),
  host: z.string(),
  /** The generation the service was restored into; null before its first restore. */
  generation: count.nullable(),
  /** True once the process can take commands (gRPC server up, NATS subscribed). */
  ready: z.boolean(),
  /** The address its gRPC server listens on (informational; peers take theirs from config). */
  grpcAddr: z.string().optional(),
  /** The last iteration the service applied, when it has one. */
  iteration: z.number().int().min(-1).optional(),
  /** The process's own stalls (stall-watch.ts): absent until its first one. */
  stall: z.strictObject({ count: count, lastMs: count }).optional(),
  ts: z.iso.datetime(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const controlSchema = z.strictObject({
  type: z.enum(['pause', 'resume', 'stop']),
  run: runIdSchema,
  reason: z.string().optional(),
});
export type ControlMessage = z.infer<typeof controlSchema>;

export const progressSchema = z.strictObject({
  run: runIdSchema,
  /** Iterations completed so far. */
  iteration: count,
  total: count,
  status: z.string(),
  lossD: finite.optional(),
  lossG: finite.optional(),
  /** The classifier's training loss and accuracy (data-parallel runs). */
  loss: finite.optional(),
  accuracy: finite.optional(),
  itPerSec: finite.optional(),
  message: z.string().optional(),
});
export type ProgressEvent = z.infer<typeof progressSchema>;

// ---- decoding -----------------------------------------------------------------------------------
/** Parses JSON bytes and validates them; `what` names the message in errors. */
export function decodeMessage<S extends z.ZodType>(schema: S, data: Uint8Array, what: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    throw new MessageError('', `${what}: expected a JSON object, found ${data.byteLength} bytes that do not parse: ${clipText((err as Error).message, 200)}`, { cause: err });
  }
  return validateMessage(schema, raw, what);
}

export function validateMessage<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    // Keys come from the sender: an unknown one may be 900 KB long, and is echoed clipped.
    const field = [...issue.path, issue.keys[0]].map((k) => clipText(String(k))).join('.');
    throw new MessageError(field, `${what}: ${field}: unknown field (allowed fields are fixed by the schema)`, { cause: result.error });
  }
  const field = issue.path.map((k) => clipText(String(k))).join('.');
  const found = describeFound(raw, issue.path);
  throw new MessageError(field, `${what}: ${field || 'message'}: ${issue.message}${found}`, { cause: result.error });
}

function describeFound(raw: unknown, at: readonly PropertyKey[]): string {
  let cur: unknown = raw;
  for (const key of at) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  if (cur === undefined) return '';
  let text: string;
  try {
    text = JSON.stringify(cur) ?? String(cur);
  } catch {
    text = Array.isArray(cur) ? 'an array nested too deep to show' : 'an object nested too deep to show'; // RangeError: the stack
  }
  return `, found ${text.length > 80 ? text.slice(0, 77) + '...' : text}`;
}

export function encodeMessage(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
