// The classifier scheduler's side of the replica group: sending commands to single workers,
// forming generations at a step boundary, fanning a step out to every rank, and telling dead and
// stalled ranks apart from a transient failure. Steps c) and e) of the protocol in
// classifier-scheduler.ts.
import type { NatsConnection } from '@nats-io/transport-node';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { z } from 'zod';
import { CommandFailed, RoleUnavailable } from '../control/errors.ts';
import { decodeMessage, encodeMessage, errorReplySchema, validateMessage } from '../control/messages.ts';
import { workerCmdSubject } from '../control/subjects.ts';
import {
  type Member, type WorkerCommand, type WorkerCommandType, type WorkerOkReply, workerReplySchemas,
} from '../control/worker-messages.ts';
import type { SeenWorker, WorkerRoster } from '../control/worker-registry.ts';
import type { Logger } from '../telemetry/log.ts';
import type { Vantage } from './vantage.ts';

const okFlag = z.looseObject({ ok: z.boolean() });

/** Request/reply to one worker; a silent one is RoleUnavailable, an {ok:false} one CommandFailed. */
export interface WorkerCommandsOptions {
  /** How long an unanswered `step` or `hash` waits before it is sent again. */
  resendMs?: number;
  /**
   * WorkerGroup.mayBeResubscribing: "no responders" from such a worker is not its death (right
   * after a nats-server restart the scheduler is back before the workers have subscribed
   * again), and the command is sent again until the deadline or until that no longer holds.
   * Without it, no responders is final.
   */
  mayBeResubscribing?: (key: string) => boolean;
  /** Times the connection to NATS was re-established (Vantage.reconnects); without it a reconnect is not watched for. */
  reconnects?: () => number;
}

export class WorkerCommands {
  private readonly resendMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly run: string,
    private readonly prefix: string,
    private readonly opts: WorkerCommandsOptions = {},
  ) {
    this.resendMs = opts.resendMs ?? RESEND_MS;
  }

  /**
   * Sends `cmd` and waits up to `timeoutMs` for the reply. A reconnect to NATS while waiting
   * (nats-server restarted) may have lost the command or its reply with the old server: the
   * command is sent again within the same deadline (commands are idempotent per generation and
   * step: a step already applied answers from the worker's cache). NATS core delivers at most
   * once, and a command or reply can also be lost around a reconnect that happened just before
   * the send (seen once after a nats-server restart: a step waited out its whole deadline), so a
   * `step` or `hash` still unanswered after `resendMs` is sent again too; the worker queues the copy
   * behind the original and answers it from its cache (the scheduler does not need `applied`).
   */
  async send<T extends WorkerCommandType>(key: string, cmd: Extract<WorkerCommand, { type: T }>, timeoutMs: number): Promise<WorkerOkReply<T>> {
    const role = `worker ${key}`;
    const deadline = Date.now() + timeoutMs;
    let data: Uint8Array | undefined;
    try {
      while (data === undefined) {
        try {
          data = await this.requestOnce(key, cmd, Math.max(1, deadline - Date.now()));
        } catch (err) {
          if (!noResponders(err) || !this.opts.mayBeResubscribing?.(key) || Date.now() + NO_RESPONDERS_RETRY_MS >= deadline) throw err;
          await new Promise((r) => setTimeout(r, NO_RESPONDERS_RETRY_MS));
        }
      }
    } catch (err) {
      throw silent(role, cmd.type, timeoutMs, err);
    }
    const what = `${role}'s reply to '${cmd.type}'`;
    const raw = decodeMessage(okFlag, data, what);
    if (raw.ok === false) throw new CommandFailed(role, validateMessage(errorReplySchema, raw, what).error);
    return validateMessage(workerReplySchemas[cmd.type as T], raw, what) as WorkerOkReply<T>;
  }

  /** The reply's bytes, or undefined when a reconnect came first or a resend is due (send again). */
  private requestOnce(key: string, cmd: WorkerCommand, timeoutMs: number): Promise<Uint8Array | undefined> {
    const reconnects = this.opts.reconnects ?? (() => 0);
    const seen = reconnects();
    const resendAt = RESENDABLE.has(cmd.type) ? Date.now() + this.resendMs : Infinity;
    let poll: NodeJS.Timeout | undefined;
    const reply = this.nc.request(workerCmdSubject(this.run, key, this.prefix), encodeMessage(cmd), { timeout: timeoutMs }).then((m) => m.data);
    const reconnected = new Promise<undefined>((resolve) => {
      poll = setInterval(() => { if (reconnects() !== seen || Date.now() >= resendAt) resolve(undefined); }, RECONNECT_POLL_MS);
    });
    reply.catch(() => undefined); // a late failure after a reconnect won the race
    return Promise.race([reply, reconnected]).finally(() => clearInterval(poll));
  }
}

const RECONNECT_POLL_MS = 100;
/** A beating worker that has no subscriber yet is asked again after this long. */
const NO_RESPONDERS_RETRY_MS = 200;
/** An unanswered step or hash is sent again after this long (a normal step takes well under it). */
const RESEND_MS = 10_000;
const RESENDABLE: ReadonlySet<WorkerCommandType> = new Set<WorkerCommandType>(['step', 'hash']);

/** This error itself (not its causes) is NATS' "no responders". */
function isNoResponders(e: Error): boolean {
  return e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders());
}

function noResponders(err: unknown): boolean {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) if (isNoResponders(cur)) return true;
  return false;
}

function silent(role: string, type: string, timeoutMs: number, err: unknown): Error {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    if (isNoResponders(cur)) {
      return new RoleUnavailable(role, 'no-responders', `${role}: nobody listens for '${type}' (no responders)`, { cause: err });
    }
    if (cur instanceof TimeoutError) return new RoleUnavailable(role, 'timeout', `${role}: no answer to '${type}' within ${timeoutMs} ms`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Why a step did not complete: who is gone (dead: no responders or silent; stalled: alive but silent). */
export interface StepFailure {
  dead: Member[];
  stalled: Member[];
  cause: Error;
}

export interface GroupTimings {
  commandTimeoutMs: number;
  livenessMs: number;
  pollMs: number;
}

export class WorkerGroup {
  members: Member[] = [];
  generation = 0;
  /** Workers dropped as dead or stalled, with the local time of the drop: left out until they beat again. */
  private readonly dropped = new Map<string, number>();

  constructor(
    readonly commands: WorkerCommands,
    private readonly roster: WorkerRoster,
    private readonly run: string,
    private readonly timings: GroupTimings,
    private readonly log: Logger,
    /** Silence counts only while the scheduler could hear (not while NATS was down or it stalled). */
    private readonly vantage: Vantage,
  ) {}

  /** Heard from within the liveness deadline, from where the scheduler stands (vantage.ts). */
  isFresh(key: string): boolean {
    return this.roster.isFresh(key, this.timings.livenessMs, this.vantage.trustedSince());
  }

  /**
   * "No responders" from this worker may be a subscription not yet renewed, not a death: the
   * scheduler's view came back less than a liveness deadline ago (NATS reconnected) and the
   * worker's registration is fresh. In steady state a dead worker is told at once.
   */
  mayBeResubscribing(key: string): boolean {
    return Date.now() - this.vantage.trustedSince() < this.timings.livenessMs && this.isFresh(key);
  }

  /** Live candidates in rank order: the current members that are still live, then newcomers by arrival. */
  candidates(exclude: ReadonlySet<string> = new Set()): SeenWorker[] {
    const live = this.roster.live(this.timings.livenessMs, this.vantage.trustedSince()).filter((w) => !exclude.has(w.reg.key) && !this.isDropped(w));
    const rankOf = new Map(this.members.map((m) => [m.key, m.rank]));
    return live.sort((a, b) => (rankOf.get(a.reg.key) ?? Infinity) - (rankOf.get(b.reg.key) ?? Infinity) || a.firstSeen - b.firstSeen);
  }

  /** Leaves workers out of later generations until they register or beat again (a SIGSTOPped one may come back). */
  drop(keys: Iterable<string>): void {
    for (const k of keys) this.dropped.set(k, Date.now());
  }

  private isDropped(w: SeenWorker): boolean {
    const at = this.dropped.get(w.reg.key);
    return at !== undefined && w.receivedAt <= at;
  }

  /** True when a live worker is waiting outside the group or a member has left (a change at the next step boundary). */
  wantsChange(maxWorkers: number, divisor: number): boolean {
    const keys = new Set(this.members.map((m) => m.key));
    if (this.members.some((m) => !this.isFresh(m.key))) return true;
    const outside = this.candidates().filter((w) => !keys.has(w.reg.key)).length;
    return outside > 0 && groupSize(this.members.length + outside, maxWorkers, divisor) > this.members.length;
  }

  /**
   * e) One step on every rank. Resolves with rank 0's reply when all ranks answered; otherwise
   * with the members that are gone: no responders (dead), or silent past the liveness deadline
   * while the others wait in the collective (stalled; logged with rank and host).
   */
  async step(step: number): Promise<{ ok: true; reply: WorkerOkReply<'step'>; replies: WorkerOkReply<'step'>[] } | ({ ok: false } & StepFailure)> {
    const members = this.members;
    const cmd = { type: 'step', run: this.run, generation: this.generation, step } as const;
    const dead = new Set<Member>();
    let firstError: Error | undefined;
    const calls = members.map((m) => this.commands.send(m.key, cmd, this.timings.commandTimeoutMs).catch((err: Error) => {
      if (err instanceof RoleUnavailable && err.reason === 'no-responders') dead.add(m);
      firstError ??= err;
      throw err;
    }));
    const all = Promise.allSettled(calls);
    let stalled: Member[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        await new Promise((r) => setTimeout(r, this.timings.pollMs));
        if (!members.some((m) => !this.isFresh(m.key))) continue;
        // Before blaming a member: is it silent, or is NATS (a PING round trip says which)?
        if (!(await this.vantage.confirmSilence())) continue;
        const silentOnes = members.filter((m) => !this.isFresh(m.key));
        if (silentOnes.length > 0 && watching) {
          stalled = silentOnes;
          return;
        }
      }
    })();
    await Promise.race([all, watch]);
    watching = false;
    if (stalled.length === 0) {
      const settled = await all;
      if (settled.every((s) => s.status === 'fulfilled')) {
        const replies = settled.map((s) => (s as PromiseFulfilledResult<WorkerOkReply<'step'>>).value);
        return { ok: true, reply: replies[0], replies };
      }
      if (dead.size === 0) {
        // The survivors' collective failed first: give the dead rank's registration time to go stale.
        await this.roster.waitUntil(() => members.some((m) => !this.isFresh(m.key)), this.timings.livenessMs + this.timings.pollMs * 2);
        stalled = members.filter((m) => !this.isFresh(m.key));
      }
    }
    for (const m of stalled) {
      if (dead.has(m)) continue;
      const w = this.roster.get(m.key);
      this.log.warn('worker stalled: no heartbeat past the liveness deadline; dropping it', {
        rank: m.rank, host: m.host, key: m.key, generation: this.generation, step,
        silentMs: w ? Date.now() - w.receivedAt : null, livenessMs: this.timings.livenessMs,
      });
    }
    return { ok: false, dead: [...dead], stalled: stalled.filter((m) => !dead.has(m)), cause: firstError ?? new Error(`step ${step}: ranks silent past the liveness deadline`) };
  }
}

/** The largest group of at most `available` (and maxWorkers) ranks that splits `divisor` evenly:
 *  the global batch, or its micro-batches with exact sums (train/config.ts groupDivisor). */
export function groupSize(available: number, maxWorkers: number, divisor: number): number {
  for (let n = Math.min(available, maxWorkers); n >= 1; n--) if (divisor % n === 0) return n;
  return 0;
}
