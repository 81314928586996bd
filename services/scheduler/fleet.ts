// The scheduler's view of its services: their heartbeats (Membership), a command client with the
// retry policy, waiting for replacements after a death, and restoring everyone into a generation.
//
// Retry policy: a command that times out while its service still heartbeats is re-sent (it is
// idempotent by (run, t, step), so at most one attempt is applied). A member is gone (ServiceLost,
// and the scheduler re-forms the generation) when its heartbeats stop while a command is
// outstanding (livenessMs; it must exceed the longest step, since heartbeats pause while a step
// computes), on a timeout after the retries, on 'no responders', when the service could not reach
// its peer over gRPC, or when it answers 'not-ready' / 'stale-generation' (it restarted between
// two heartbeats).
// Silence is judged from where the scheduler stands (vantage.ts): heartbeats missed while the
// scheduler itself was stalled, or while NATS was down or stalled, count against nobody. A command
// that met such an interruption (a reconnect while it waited, 'no responders' or a timeout while
// the members' heartbeats cannot be trusted yet) is re-sent without using up its retries.
// Replica groups: a role may have several members (the discriminator with --discriminator-replicas
// N: ranks 0..N-1, each with its own subjects and heartbeats). Every command to the role goes to
// every rank at once (their steps meet in collectives), each rank with the retry policy above; a
// step also watches every rank of the peer role. Any rank lost is the role lost: the generation is
// re-formed and every rank restored, exactly as for a single dead service.
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient } from '../control/commands.ts';
import { CommandFailed, RoleUnavailable } from '../control/errors.ts';
import { Membership, type SeenMember } from '../control/heartbeat.ts';
import type { BackendReport, CheckpointRef, CommandOf, CommandType, OkReply } from '../control/messages.ts';
import { memberToken, type RunSubjects, SERVICE_ROLES, type ServiceRole } from '../control/subjects.ts';
import type { Logger } from '../telemetry/log.ts';
import { Vantage } from './vantage.ts';

/** Re-sends after an interruption of the control plane (not the service's fault) per command. */
const MAX_FREE_RESENDS = 100;
const RESEND_PAUSE_MS = 250;

/** A reconnect to NATS happened while a command waited: it may have been lost with the server. */
class ControlPlaneInterrupted extends Error {
  override readonly name = 'ControlPlaneInterrupted';
}

export interface FleetOptions {
  commandTimeoutMs: number;
  livenessMs: number;
  retries: number;
  recoveryTimeoutMs: number;
}

/** A service died, restarted, or cannot be reached: the generation must be re-formed. */
export class ServiceLost extends Error {
  override readonly name = 'ServiceLost';
  constructor(
    readonly role: ServiceRole,
    /** The instance that was lost (its last heartbeat), when one was seen. */
    readonly instance: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A service's answer to a step command contradicts the command: e.g. applied=false for a step
 * sent once (something else already moved its weights past it). The run stops; nothing retries.
 */
export class StepFault extends Error {
  override readonly name = 'StepFault';
  constructor(
    readonly role: ServiceRole,
    readonly iteration: number,
    readonly step: number,
    readonly reason: string,
  ) {
    super(`${role} answered step (iteration ${iteration}, step ${step}) unexpectedly: ${reason}`);
  }
}

/** No replacement for a lost service arrived in time: the run cannot continue. */
export class RecoveryTimeout extends Error {
  override readonly name = 'RecoveryTimeout';
}

export type ServiceBackends = Record<ServiceRole, BackendReport | undefined>;

/** Per-command overrides of FleetOptions.commandTimeoutMs and livenessMs. */
export interface CallLimits {
  timeoutMs?: number;
  livenessMs?: number;
}

export type StepBody<T extends CommandType> = Omit<CommandOf<T>, 'type' | 'run' | 'generation'>;

/** One member's answer to a command sent to a whole role. */
export interface MemberReply<T extends CommandType> { rank: number; reply: OkReply<T>; attempts: number }

export class Fleet {
  readonly members: Membership;
  readonly vantage: Vantage;
  /** Stamped on every command; set when the scheduler forms a generation. */
  generation = 0;
  private readonly client: CommandClient;
  /** Members per role (ranks 0..n-1); 1 unless the role runs as a replica group. */
  private readonly sizes: Record<ServiceRole, number>;

  constructor(
    nc: NatsConnection,
    private readonly subjects: RunSubjects,
    private readonly opts: FleetOptions,
    private readonly log: Logger,
    sizes: Partial<Record<ServiceRole, number>> = {},
  ) {
    this.members = new Membership(nc, subjects, log, (m, stall, fresh) => this.onMemberStall(m, stall.lastMs, fresh)).start();
    this.vantage = new Vantage(nc, log);
    this.client = new CommandClient(nc, subjects);
    this.sizes = { generator: sizes.generator ?? 1, discriminator: sizes.discriminator ?? 1 };
  }

  /** The ranks of a role: [0] for a single service. */
  ranks(role: ServiceRole): number[] {
    return Array.from({ length: this.sizes[role] }, (_, r) => r);
  }

  /**
   * Sends a command (with the retry policy). `limits` widen the deadline and the liveness window
   * for a command known to be long, such as 'eval' (heartbeats pause while it computes).
   */
  async call<T extends Exclude<CommandType, 'ping'>>(role: ServiceRole, type: T, body: StepBody<T>, limits: CallLimits = {}): Promise<OkReply<T>> {
    return (await this.callCounted(role, type, body, limits)).reply;
  }

  /** call(), also saying how many attempts it took (1: the first attempt answered); rank 0's answer for a group. */
  async callCounted<T extends Exclude<CommandType, 'ping'>>(
    role: ServiceRole, type: T, body: StepBody<T>, limits: CallLimits = {},
  ): Promise<{ reply: OkReply<T>; attempts: number }> {
    return (await this.callGroup(role, type, body, limits))[0];
  }

  /**
   * The command to every member of the role at once, each with the retry policy; their answers in
   * rank order. All answers are awaited before a failure is acted on (a member still answering
   * must not be left with a command whose later timeout would be logged against it).
   */
  async callGroup<T extends Exclude<CommandType, 'ping'>>(
    role: ServiceRole, type: T, body: StepBody<T>, limits: CallLimits = {},
  ): Promise<MemberReply<T>[]> {
    const ranks = this.ranks(role);
    if (ranks.length === 1) return [{ rank: 0, ...(await this.callMember(role, 0, type, body, limits)) }];
    const settled = await Promise.allSettled(ranks.map(async (rank) => ({ rank, ...(await this.callMember(role, rank, type, body, limits)) })));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<MemberReply<T>>).value);
  }

  private async callMember<T extends Exclude<CommandType, 'ping'>>(
    role: ServiceRole, rank: number, type: T, body: StepBody<T>, limits: CallLimits,
  ): Promise<{ reply: OkReply<T>; attempts: number }> {
    const cmd = { type, run: this.subjects.run, generation: this.generation, ...body } as unknown as CommandOf<T>;
    const timeoutMs = limits.timeoutMs ?? this.opts.commandTimeoutMs;
    const livenessMs = limits.livenessMs ?? this.opts.livenessMs;
    const member = memberToken(role, rank);
    let counted = 0;
    for (let sends = 1; ; sends++) {
      const target = this.members.get(role, rank)?.hb.instance; // the instance this attempt goes to
      try {
        const reply = await this.whileAlive(role, rank, target, type, livenessMs, this.client.send(role, cmd, timeoutMs, rank));
        return { reply, attempts: sends };
      } catch (err) {
        // No answer and no recent heartbeat: ask NATS first whether it is the silent one.
        if (err instanceof RoleUnavailable && err.reason !== 'silent' && !this.fresh(role, livenessMs, rank)) await this.vantage.confirmSilence();
        if (sends - counted <= MAX_FREE_RESENDS && this.interrupted(err, livenessMs)) {
          this.log.warn('the control plane was interrupted during a command; re-sending it', { role: member, command: type, reason: (err as Error).message, blind: this.vantage.blind() ?? null });
          await new Promise((r) => setTimeout(r, RESEND_PAUSE_MS));
          continue;
        }
        if (this.retryable(err, role, rank, counted, livenessMs)) {
          counted++;
          this.log.warn('command timed out but the service still heartbeats; re-sending', { role: member, command: type, attempt: counted });
          continue;
        }
        throw this.asLost(err, role, rank, target);
      }
    }
  }

  /** The member's latest heartbeat is recent, counting only the time the scheduler could hear it. */
  fresh(role: ServiceRole, livenessMs: number, rank = 0): boolean {
    const m = this.members.get(role, rank);
    return m !== undefined && Date.now() - Math.max(m.receivedAt, this.vantage.trustedSince()) <= livenessMs;
  }

  /**
   * The command failed because of the scheduler's or NATS' trouble, not the service's: a reconnect
   * while it waited, or no answer / no responders while NATS is down or only just back.
   */
  private interrupted(err: unknown, livenessMs: number): boolean {
    if (err instanceof ControlPlaneInterrupted) return true;
    if (!(err instanceof RoleUnavailable) || err.reason === 'silent') return false;
    return this.vantage.blind() !== undefined || Date.now() - this.vantage.trustedSince() < livenessMs;
  }

  /**
   * The reply, unless the service's heartbeats stop first: a process killed mid-command is
   * noticed after the liveness window instead of the (much longer) command deadline. Silence is
   * confirmed with a PING to NATS before the service is blamed (vantage.ts).
   */
  private whileAlive<R>(role: ServiceRole, rank: number, instance: string | undefined, type: string, livenessMs: number, reply: Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const reconnects = this.vantage.reconnects;
    const self = memberToken(role, rank);
    const silent = new Promise<never>((_resolve, reject) => {
      timer = setInterval(() => {
        const now = this.members.get(role, rank)?.hb.instance;
        if (this.vantage.reconnects !== reconnects) {
          reject(new ControlPlaneInterrupted(`reconnected to NATS while waiting for the ${self}'s answer to '${type}'`));
        } else if (now !== instance) {
          reject(new RoleUnavailable(role, 'silent', `${self}: instance ${instance} was replaced by ${now} while waiting for '${type}'`, { rank }));
        } else {
          // A step also needs the peer (over gRPC) and the other ranks of its group (collectives):
          // a silent one stalls it just the same. This member first, so its own silence is named.
          const others = type === 'd-step' || type === 'g-step'
            ? [...this.ranks(role).filter((k) => k !== rank).map((k) => ({ role, rank: k })), ...this.ranks(other(role)).map((k) => ({ role: other(role), rank: k }))]
            : [];
          const quiet = [{ role, rank }, ...others].find((m) => !this.fresh(m.role, livenessMs, m.rank));
          if (!quiet) return;
          void this.vantage.confirmSilence().then((heard) => {
            if (heard && !this.fresh(quiet.role, livenessMs, quiet.rank)) {
              const who = memberToken(quiet.role, quiet.rank);
              const what = who === self ? `'${type}'` : `the ${self}'s '${type}'`;
              reject(new RoleUnavailable(quiet.role, 'silent', `${who}: no heartbeat for ${livenessMs} ms while waiting for ${what} ` +
                `(dead, or computing one step for longer than that, which pauses its heartbeats: raise --liveness-ms / GANTRY_LIVENESS_MS)`, { rank: quiet.rank }));
            }
          });
        }
      }, Math.min(250, livenessMs / 4));
    });
    reply.catch(() => undefined); // a late rejection after the race is lost
    return Promise.race([reply, silent]).finally(() => clearInterval(timer));
  }

  private retryable(err: unknown, role: ServiceRole, rank: number, attempt: number, livenessMs: number): boolean {
    return err instanceof RoleUnavailable && err.reason === 'timeout' && attempt < this.opts.retries &&
      this.fresh(role, livenessMs, rank);
  }

  /** `target`: the instance of the member (role, rank) the command went to. */
  private asLost(err: unknown, role: ServiceRole, rank: number, target: string | undefined): unknown {
    if (err instanceof RoleUnavailable && (err.role !== role || err.rank !== rank) && (SERVICE_ROLES as readonly string[]).includes(err.role)) {
      // The peer, or another rank of this member's group, fell silent during a step.
      const who = err.role as ServiceRole;
      return new ServiceLost(who, this.members.get(who, err.rank)?.hb.instance, err.message, { cause: err });
    }
    if (err instanceof RoleUnavailable) return new ServiceLost(role, target, err.message, { cause: err });
    if (err instanceof CommandFailed && err.code === 'peer-unavailable') {
      const peer = (SERVICE_ROLES as readonly string[]).includes(err.details.role ?? '') ? err.details.role as ServiceRole : other(role);
      // Another rank of the service's own group (its collective failed): which one is not known here.
      const instance = peer === role ? undefined : this.members.get(peer)?.hb.instance;
      return new ServiceLost(peer, instance, err.message, { cause: err });
    }
    if (err instanceof CommandFailed && (err.code === 'not-ready' || err.code === 'stale-generation')) {
      return new ServiceLost(role, target, `${role} restarted: ${err.details.message}`, { cause: err });
    }
    return err;
  }

  /**
   * Resolves once every service heartbeats ready. After a loss (at local time `since`), each role
   * must have beaten since then, and the lost role must be a new instance, or the old one must
   * have kept beating for a whole liveness window (it was slow, not dead).
   */
  async awaitServices(lost: ServiceLost | undefined, since: number, signal: AbortSignal): Promise<void> {
    const { livenessMs, recoveryTimeoutMs } = this.opts;
    const readyMember = (role: ServiceRole, rank: number): boolean => {
      const m = this.members.get(role, rank);
      if (!m?.hb.ready) return false;
      if (!lost) return this.fresh(role, livenessMs, rank);
      if (m.receivedAt <= since) return false;
      return role !== lost.role || m.hb.instance !== lost.instance || m.receivedAt - since >= livenessMs;
    };
    const missing = (): string[] => SERVICE_ROLES.flatMap((r) => this.ranks(r).filter((k) => !readyMember(r, k)).map((k) => memberToken(r, k)));
    if (missing().length > 0) this.log.info('waiting for services', { missing: missing(), timeoutMs: recoveryTimeoutMs });
    const ok = await this.members.waitUntil(() => missing().length === 0, recoveryTimeoutMs, signal);
    if (signal.aborted) throw signal.reason;
    if (!ok) throw new RecoveryTimeout(`no ready ${missing().join(' and ')} within ${recoveryTimeoutMs} ms; the run cannot continue`);
  }

  /**
   * Restores every service into `generation` from `checkpoint` (null: the seeded initial weights);
   * returns the backend each one reported computing on.
   */
  async restoreAll(config: Record<string, unknown>, configHash: string, checkpoint: CheckpointRef | null): Promise<ServiceBackends> {
    const iteration = checkpoint?.iteration ?? 0;
    const results = await Promise.allSettled(SERVICE_ROLES.map((role) =>
      this.call(role, 'restore', { iteration, config, configHash, checkpoint }))); // every rank of a group
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [generator, discriminator] = results.map((r) => (r as PromiseFulfilledResult<OkReply<'restore'>>).value.backend);
    return { generator, discriminator };
  }

  stop(): void {
    this.members.stop();
    this.vantage.stop();
  }

  /**
   * What the scheduler could not watch, the member reports itself: each heartbeat carries the
   * member's own stalls (control/stall-watch.ts), and one longer than the liveness window is named
   * here even when it hid inside the scheduler's own stall or a NATS outage (the member was slow;
   * if a command failed meanwhile, the usual loss handling applies as well).
   */
  private onMemberStall(m: SeenMember, lastMs: number, fresh: number): void {
    const role = m.hb.role;
    if (!(SERVICE_ROLES as readonly string[]).includes(role)) return;
    const fields = { role, instance: m.hb.instance, stallMs: lastMs, stalls: fresh };
    if (lastMs > this.opts.livenessMs) {
      this.log.warn(`${role} stalled: it did not run for ${lastMs} ms, past the ${this.opts.livenessMs} ms liveness window ` +
        `(stopped, paused, or one step longer than that; its own report)`, fields);
    } else {
      this.log.info(`${role} paused for ${lastMs} ms (within the liveness window)`, fields);
    }
  }
}

function other(role: ServiceRole): ServiceRole {
  return role === 'generator' ? 'discriminator' : 'generator';
}
