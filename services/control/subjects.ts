// The NATS subjects of one run. Every subject starts with a configurable prefix (default
// `gantry`) and the run id, so several runs share one server without seeing each other:
//   <prefix>.<run>.cmd.<role>    request/reply step commands to a service
//   <prefix>.<run>.hb.<role>     heartbeats, published by every process
// A replica group (the discriminator with --discriminator-replicas N) answers as N members:
// rank 0 on the role's own subjects (so one replica is exactly today's discriminator), rank r >= 1
// on <...>.cmd.<role>.<r> and <...>.hb.<role>.<r>.
//   <prefix>.<run>.control       pause / resume / stop, published by `gantry run ...`
//   <prefix>.<run>.progress      the scheduler's progress events (one bar, drawn by whoever listens)
import { z } from 'zod';

export const SERVICE_ROLES = ['generator', 'discriminator'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];
export const MEMBER_ROLES = ['generator', 'discriminator', 'scheduler'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

export const DEFAULT_PREFIX = 'gantry';
/** The JetStream KV bucket holding one RunState per run id. */
export const RUNS_BUCKET = 'gantry_runs';

// One subject token (and a valid KV key): no dots, wildcards or spaces.
const TOKEN_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const runIdSchema = z.string().regex(TOKEN_RE, 'expected 1-64 characters of A-Z a-z 0-9 _ -');
export const prefixSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$/, 'expected dot-separated tokens of A-Z a-z 0-9 _ -');

/** One member of a run: a role and, for a replica group, its rank (0 for everyone else). */
export interface MemberId {
  role: MemberRole;
  rank: number;
}

/** "discriminator" for rank 0, "discriminator.2" for rank 2: the member's subject suffix and map key. */
export function memberToken(role: MemberRole, rank = 0): string {
  return rank === 0 ? role : `${role}.${rank}`;
}

export interface RunSubjects {
  readonly run: string;
  cmd(role: ServiceRole, rank?: number): string;
  hb(role: MemberRole, rank?: number): string;
  /** All heartbeats of the run (wildcard). */
  readonly hbAll: string;
  readonly control: string;
  readonly progress: string;
}

export function runSubjects(run: string, prefix: string = DEFAULT_PREFIX): RunSubjects {
  const runOk = runIdSchema.safeParse(run);
  if (!runOk.success) throw new RangeError(`run id ${JSON.stringify(run)}: ${runOk.error.issues[0].message}`);
  const prefixOk = prefixSchema.safeParse(prefix);
  if (!prefixOk.success) throw new RangeError(`subject prefix ${JSON.stringify(prefix)}: ${prefixOk.error.issues[0].message}`);
  const base = `${prefix}.${run}`;
  return {
    run,
    cmd: (role, rank = 0) => `${base}.cmd.${memberToken(role, rank)}`,
    hb: (role, rank = 0) => `${base}.hb.${memberToken(role, rank)}`,
    hbAll: `${base}.hb.>`,
    control: `${base}.control`,
    progress: `${base}.progress`,
  };
}

/** The JetStream KV bucket of worker registrations, keys `<run>.<worker key>`. */
export const WORKERS_BUCKET = 'gantry_workers';

/** One worker's command subject (request/reply). `key` is a subject token (workerKey). */
export function workerCmdSubject(run: string, key: string, prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}.${run}.cmd.worker.${key}`;
}

/** A subject token and KV key segment from an instance id (host names may hold dots). */
export function workerKey(instance: string): string {
  return instance.replace(/[^A-Za-z0-9_-]/g, '_').slice(-64);
}
