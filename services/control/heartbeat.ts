// Heartbeats: every process publishes one on <prefix>.<run>.hb.<role> each interval (and at once
// when its state changes); the scheduler and `gantry status` keep the latest per role. A role is
// alive while its latest heartbeat is younger than the scheduler's liveness deadline.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { type StallReport, StallWatch } from './stall-watch.ts';
import type { Logger } from '../telemetry/log.ts';
import { decodeMessage, encodeMessage, type Heartbeat, heartbeatSchema } from './messages.ts';
import { type MemberRole, memberToken, type RunSubjects } from './subjects.ts';

export const DEFAULT_HEARTBEAT_MS = 500;

/** A fresh id for this process start: host, pid and 4 random bytes. */
export function newInstanceId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export type HeartbeatBody = Omit<Heartbeat, 'ts' | 'run' | 'role' | 'instance' | 'pid' | 'host' | 'stall'>;

/** Called when an instance's heartbeat reports stalls it had not reported before. */
export type StallListener = (member: SeenMember, stall: StallReport, newStalls: number) => void;

export interface HeartbeatPublisher {
  /** Publishes now (after a state change), then keeps the interval. */
  beat(): void;
  stop(): void;
}

export function startHeartbeats(
  nc: NatsConnection,
  subjects: RunSubjects,
  identity: { role: MemberRole; instance: string; /** a replica group's rank; 0 or absent: none */ rank?: number },
  body: () => HeartbeatBody,
  intervalMs = DEFAULT_HEARTBEAT_MS,
): HeartbeatPublisher {
  const rank = identity.rank ?? 0;
  const subject = subjects.hb(identity.role, rank);
  const publish = (): void => {
    if (nc.isClosed() || nc.isDraining()) return;
    const hb: Heartbeat = {
      role: identity.role, ...(rank > 0 ? { rank } : {}), run: subjects.run, instance: identity.instance, pid: process.pid, host: os.hostname(),
      ...body(), ts: new Date().toISOString(),
    };
    const stall = stalls.report();
    nc.publish(subject, encodeMessage(stall ? { ...hb, stall } : hb));
  };
  // Every heartbeat carries the process's own stalls, so the scheduler can name a member that
  // stalled while the scheduler could not watch it (stall-watch.ts).
  const stalls = new StallWatch();
  publish();
  const timer = setInterval(publish, intervalMs);
  timer.unref();
  return { beat: publish, stop: () => { clearInterval(timer); stalls.stop(); } };
}

export interface SeenMember {
  readonly hb: Heartbeat;
  /** Local clock (ms) when the heartbeat arrived; remote clocks are never compared. */
  readonly receivedAt: number;
  /** How many heartbeats this instance has sent so far (as seen here). */
  readonly beats: number;
}

/** The latest heartbeat of each member (role, and rank in a replica group) of one run. */
export class Membership {
  private readonly latest = new Map<string, SeenMember>();
  private readonly waiters = new Set<() => void>();
  private sub: Subscription | undefined;
  /** The highest stall count each instance has reported. */
  private readonly stallCounts = new Map<string, number>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: RunSubjects,
    private readonly log: Logger,
    private readonly onStall?: StallListener,
  ) {}

  start(): this {
    this.sub = this.nc.subscribe(this.subjects.hbAll, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = decodeMessage(heartbeatSchema, msg.data, `heartbeat on ${msg.subject}`);
          // A heartbeat speaks for the run and member of its subject only (<...>.<run>.hb.<role>[.<rank>]).
          if (hb.run !== this.subjects.run || msg.subject !== this.subjects.hb(hb.role, hb.rank)) {
            this.log.warn('ignoring a heartbeat for another run or role', { subject: msg.subject, run: hb.run, role: hb.role });
            return;
          }
          this.record(hb);
        } catch (e) {
          this.log.warn('ignoring a malformed heartbeat', { subject: msg.subject, error: e });
        }
      },
    });
    return this;
  }

  private record(hb: Heartbeat): void {
    const key = memberToken(hb.role, hb.rank);
    const prev = this.latest.get(key);
    const beats = prev && prev.hb.instance === hb.instance ? prev.beats + 1 : 1;
    this.latest.set(key, { hb, receivedAt: Date.now(), beats });
    for (const wake of [...this.waiters]) wake();
    this.noteStalls(hb);
  }

  /** Heartbeats may arrive out of order after a reconnect: only a count above the highest seen is news. */
  private noteStalls(hb: Heartbeat): void {
    const before = this.stallCounts.get(hb.instance) ?? 0;
    if (!hb.stall || hb.stall.count <= before) return;
    this.stallCounts.set(hb.instance, hb.stall.count);
    const seen = this.all().find((m) => m.hb === hb);
    if (seen) this.onStall?.(seen, hb.stall, hb.stall.count - before);
  }

  /** How many stalls `instance` has reported (0: none). */
  stallsOf(instance: string): number {
    return this.stallCounts.get(instance) ?? 0;
  }

  /** The member's latest heartbeat; rank 0 is the role itself (or a replica group's rank 0). */
  get(role: MemberRole, rank = 0): SeenMember | undefined {
    return this.latest.get(memberToken(role, rank));
  }

  all(): SeenMember[] {
    return [...this.latest.values()];
  }

  /** The role's latest heartbeat arrived within `maxAgeMs`. */
  isFresh(role: MemberRole, maxAgeMs: number, rank = 0): boolean {
    const m = this.latest.get(memberToken(role, rank));
    return m !== undefined && Date.now() - m.receivedAt <= maxAgeMs;
  }

  /** Resolves true as soon as `ready()` holds (checked on every heartbeat), false after `timeoutMs`. */
  waitUntil(ready: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const check = (): void => { if (ready()) finish(true); };
      const onAbort = (): void => finish(false);
      const timer = setTimeout(() => finish(ready()), timeoutMs);
      this.waiters.add(check);
      signal?.addEventListener('abort', onAbort);
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    for (const wake of [...this.waiters]) wake();
  }
}
