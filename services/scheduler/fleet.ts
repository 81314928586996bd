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
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient } from '../control/commands.ts';
import { CommandFailed, RoleUnavailable } from '../control/errors.ts';
import { Membership } from '../control/heartbeat.ts';
import type { BackendReport, CheckpointRef, CommandOf, CommandType, OkReply } from '../control/messages.ts';
import { type RunSubjects, SERVICE_ROLES, type ServiceRole } from '../control/subjects.ts';
import type { Logger } from '../telemetry/log.ts';

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

export class Fleet {
  readonly members: Membership;
  /** Stamped on every command; set when the scheduler forms a generation. */
  generation = 0;
  private readonly client: CommandClient;

  constructor(
    nc: NatsConnection,
    private readonly subjects: RunSubjects,
    private readonly opts: FleetOptions,
    private readonly log: Logger,
  ) {
    this.members = new Membership(nc, subjects, log).start();
    this.client = new CommandClient(nc, subjects);
  }

  /**
   * Sends a command (with the retry policy). `limits` widen the deadline and the liveness window
   * for a command known to be long, such as 'eval' (heartbeats pause while it computes).
   */
  async call<T extends Exclude<CommandType, 'ping'>>(role: ServiceRole, type: T, body: StepBody<T>, limits: CallLimits = {}): Promise<OkReply<T>> {
    return (await this.callCounted(role, type, body, limits)).reply;
  }

  /** call(), also saying how many attempts it took (1: the first attempt answered). */
  async callCounted<T extends Exclude<CommandType, 'ping'>>(
    role: ServiceRole, type: T, body: StepBody<T>, limits: CallLimits = {},
  ): Promise<{ reply: OkReply<T>; attempts: number }> {
    const cmd = { type, run: this.subjects.run, generation: this.generation, ...body } as unknown as CommandOf<T>;
    const timeoutMs = limits.timeoutMs ?? this.opts.commandTimeoutMs;
    const livenessMs = limits.livenessMs ?? this.opts.livenessMs;
    for (let attempt = 0; ; attempt++) {
      const target = this.members.get(role)?.hb.instance; // the instance this attempt goes to
      try {
        const reply = await this.whileAlive(role, target, type, livenessMs, this.client.send(role, cmd, timeoutMs));
        return { reply, attempts: attempt + 1 };
      } catch (err) {
        if (this.retryable(err, role, attempt, livenessMs)) {
          this.log.warn('command timed out but the service still heartbeats; re-sending', { role, command: type, attempt: attempt + 1 });
          continue;
        }
        throw this.asLost(err, role, target);
      }
    }
  }

  /**
   * The reply, unless the service's heartbeats stop first: a process killed mid-command is
   * noticed after the liveness window instead of the (much longer) command deadline.
   */
  private whileAlive<R>(role: ServiceRole, instance: string | undefined, type: string, livenessMs: number, reply: Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_resolve, reject) => {
      timer = setInterval(() => {
        const now = this.members.get(role)?.hb.instance;
        if (now !== instance) {
          reject(new RoleUnavailable(role, 'silent', `${role}: instance ${instance} was replaced by ${now} while waiting for '${type}'`));
        } else if (!this.members.isFresh(role, livenessMs)) {
          reject(new RoleUnavailable(role, 'silent', `${role}: no heartbeat for ${livenessMs} ms while waiting for '${type}' ` +
            `(dead, or computing one step for longer than that, which pauses its heartbeats: raise --liveness-ms / GANTRY_LIVENESS_MS)`));
        }
      }, Math.min(250, livenessMs / 4));
    });
    reply.catch(() => undefined); // a late rejection after the race is lost
    return Promise.race([reply, silent]).finally(() => clearInterval(timer));
  }

  private retryable(err: unknown, role: ServiceRole, attempt: number, livenessMs: number): boolean {
    return err instanceof RoleUnavailable && err.reason === 'timeout' && attempt < this.opts.retries &&
      this.members.isFresh(role, livenessMs);
  }

  private asLost(err: unknown, role: ServiceRole, target: string | undefined): unknown {
    if (err instanceof RoleUnavailable) return new ServiceLost(role, target, err.message, { cause: err });
    if (err instanceof CommandFailed && err.code === 'peer-unavailable') {
      const peer = (SERVICE_ROLES as readonly string[]).includes(err.details.role ?? '') ? err.details.role as ServiceRole : other(role);
      return new ServiceLost(peer, this.members.get(peer)?.hb.instance, err.message, { cause: err });
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
    const readyRole = (role: ServiceRole): boolean => {
      const m = this.members.get(role);
      if (!m?.hb.ready) return false;
      if (!lost) return this.members.isFresh(role, livenessMs);
      if (m.receivedAt <= since) return false;
      return role !== lost.role || m.hb.instance !== lost.instance || m.receivedAt - since >= livenessMs;
    };
    const missing = (): ServiceRole[] => SERVICE_ROLES.filter((r) => !readyRole(r));
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
      this.call(role, 'restore', { iteration, config, configHash, checkpoint })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [generator, discriminator] = results.map((r) => (r as PromiseFulfilledResult<OkReply<'restore'>>).value.backend);
    return { generator, discriminator };
  }

  stop(): void {
    this.members.stop();
  }
}

function other(role: ServiceRole): ServiceRole {
  return role === 'generator' ? 'discriminator' : 'generator';
}
