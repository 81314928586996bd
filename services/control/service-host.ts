// The NATS side of a generator or discriminator process: it answers step commands, fences them by
// generation, caches step replies, and heartbeats. The role's main.ts supplies the handlers.
//
// Fencing: a service is restored into generation g by a `restore` command and from then on
// executes only commands stamped g ('stale-generation' otherwise; 'not-ready' before any
// restore). A restore stamped below the current generation comes from a superseded scheduler
// and is refused. So an old scheduler can never move a service the new one has taken over. A
// refused restore leaves the service in the generation it served.
//
// Idempotency: the replies of the last few d-step / g-step commands are kept by
// (type, iteration, step); a retried command gets the cached reply with applied=false and the
// handler is not called again (the nodes are idempotent too; this also keeps L_G, which only
// the first G-step attempt saw).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../telemetry/log.ts';
import { type CommandHandlers, type ReplyBody, serveCommands } from './commands.ts';
import { ServiceError } from './errors.ts';
import { type HeartbeatPublisher, startHeartbeats } from './heartbeat.ts';
import type { CommandOf } from './messages.ts';
import type { RunSubjects, ServiceRole } from './subjects.ts';

const CACHE_SIZE = 8;

export interface ServiceHostOptions {
  nc: NatsConnection;
  subjects: RunSubjects;
  role: ServiceRole;
  /** A replica group's rank (subjects <role>.<rank> above 0); 0 or absent: the role itself. */
  rank?: number;
  instance: string;
  log: Logger;
  heartbeatMs: number;
  grpcAddr: string;
  /** The last iteration the model applied, for heartbeats. */
  iteration: () => number | undefined;
}

type StepType = 'd-step' | 'g-step';

export class ServiceHost {
  generation: number | null = null;
  private ready = false;
  private readonly cache = new Map<string, ReplyBody<StepType>>();
  private sub: Subscription | undefined;
  private heartbeats: HeartbeatPublisher | undefined;

  constructor(private readonly opts: ServiceHostOptions) {}

  /** Subscribes to the role's command subject and starts heartbeating (ready=true). */
  start(handlers: CommandHandlers): void {
    const o = this.opts;
    const fenced: CommandHandlers = {
      ping: async () => ({ role: o.role, instance: o.instance, generation: this.generation }),
    };
    if (handlers.restore) fenced.restore = this.fenceRestore(handlers.restore);
    if (handlers['d-step']) fenced['d-step'] = this.fenceStep('d-step', handlers['d-step']);
    if (handlers['g-step']) fenced['g-step'] = this.fenceStep('g-step', handlers['g-step']);
    if (handlers.checkpoint) fenced.checkpoint = this.fence(handlers.checkpoint);
    if (handlers.sample) fenced.sample = this.fence(handlers.sample);
    if (handlers.eval) fenced.eval = this.fence(handlers.eval);
    this.sub = serveCommands(o.nc, o.subjects, o.role, fenced, o.log, o.rank ?? 0);
    this.ready = true;
    this.heartbeats = startHeartbeats(o.nc, o.subjects, { role: o.role, instance: o.instance, rank: o.rank ?? 0 }, () => ({
      generation: this.generation, ready: this.ready, grpcAddr: o.grpcAddr, iteration: o.iteration(),
    }), o.heartbeatMs);
  }

  private checkGeneration(generation: number): void {
    if (this.generation === null) throw new ServiceError('not-ready', `the ${this.opts.role} has not been restored yet (instance ${this.opts.instance})`);
    if (generation !== this.generation) {
      throw new ServiceError('stale-generation', `generation: the ${this.opts.role} serves generation ${this.generation}, found ${generation}`, { field: 'generation' });
    }
  }

  private fenceRestore(h: NonNullable<CommandHandlers['restore']>): NonNullable<CommandHandlers['restore']> {
    return async (cmd) => {
      if (this.generation !== null && cmd.generation < this.generation) {
        throw new ServiceError('stale-generation',
          `generation: restore for generation ${cmd.generation} refused, the ${this.opts.role} already serves ${this.generation}`, { field: 'generation' });
      }
      // The handlers build and check the new model before swapping it in, so a refused restore
      // (bad config, unreadable checkpoint) changes nothing: the service keeps its generation.
      const reply = await h(cmd);
      this.cache.clear();
      this.generation = cmd.generation;
      this.heartbeats?.beat();
      this.opts.log.info('restored', { generation: cmd.generation, iteration: reply.iteration, checkpoint: cmd.checkpoint?.path ?? null });
      return reply;
    };
  }

  private fenceStep<T extends StepType>(type: T, h: (c: CommandOf<T>) => Promise<ReplyBody<T>>): (c: CommandOf<T>) => Promise<ReplyBody<T>> {
    return async (cmd) => {
      const { generation, iteration, step } = cmd as CommandOf<'d-step'>; // both types carry these
      this.checkGeneration(generation);
      const key = `${type}:${iteration}:${step}`;
      const cached = this.cache.get(key) as ReplyBody<T> | undefined;
      if (cached) return { ...cached, metrics: { ...cached.metrics, applied: false } };
      const reply = await h(cmd);
      this.cache.set(key, reply as ReplyBody<StepType>);
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      return reply;
    };
  }

  private fence<C extends { generation: number }, R>(h: (c: C) => Promise<R>): (c: C) => Promise<R> {
    return async (cmd) => {
      this.checkGeneration(cmd.generation);
      return h(cmd);
    };
  }

  /** Stops answering and heartbeating (the process is about to exit). */
  stop(): void {
    this.ready = false;
    this.heartbeats?.beat();
    this.heartbeats?.stop();
    this.sub?.unsubscribe();
  }
}
