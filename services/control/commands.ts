// Both ends of the step commands. The scheduler's CommandClient sends one command and returns
// the validated reply (or throws CommandFailed / RoleUnavailable); a service's serveCommands
// decodes each request, answers malformed ones with 'bad-request' naming the field, and runs the
// handlers strictly one at a time, so a retried command waits for the original and then finds
// its cached result instead of racing it.
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { NonFiniteError } from '../core/errors.ts';
import { RunWriteError } from '../run/errors.ts';
import type { Logger } from '../telemetry/log.ts';
import { CommandFailed, MessageError, type RemoteErrorDetails, RoleUnavailable, ServiceError } from './errors.ts';
import {
  type Command,
  type CommandOf,
  commandSchema,
  type CommandType,
  decodeMessage,
  encodeMessage,
  errorReplySchema,
  type OkReply,
  okReplySchemas,
  validateMessage,
} from './messages.ts';
import type { RunSubjects, ServiceRole } from './subjects.ts';

// ---- scheduler side -----------------------------------------------------------------------------
export class CommandClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: RunSubjects,
  ) {}

  /** `rank`: a replica group's member (subjects.ts); errors name it as "<role> rank <r>". */
  async send<T extends CommandType>(role: ServiceRole, cmd: CommandOf<T>, timeoutMs: number, rank = 0): Promise<OkReply<T>> {
    const subject = this.subjects.cmd(role, rank);
    let msg: Msg;
    try {
      msg = await this.nc.request(subject, encodeMessage(cmd), { timeout: timeoutMs });
    } catch (err) {
      throw unavailable(role, cmd.type, timeoutMs, err, rank);
    }
    return parseReply(role, cmd.type as T, msg.data);
  }
}

function unavailable(role: ServiceRole, type: string, timeoutMs: number, err: unknown, rank: number): Error {
  const who = rank === 0 ? role : `${role} rank ${rank}`;
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    if (cur instanceof NoRespondersError || (cur instanceof RequestError && cur.isNoResponders())) {
      return new RoleUnavailable(role, 'no-responders', `${who}: nobody listens for '${type}' commands (no responders)`, { cause: err, rank });
    }
    if (cur instanceof TimeoutError) {
      return new RoleUnavailable(role, 'timeout', `${who}: no answer to '${type}' within ${timeoutMs} ms`, { cause: err, rank });
    }
  }
  if (err instanceof RequestError) {
    return new RoleUnavailable(role, 'timeout', `${who}: '${type}' request failed: ${err.message}`, { cause: err, rank });
  }
  return err instanceof Error ? err : new Error(String(err));
}

function parseReply<T extends CommandType>(role: ServiceRole, type: T, data: Uint8Array): OkReply<T> {
  const what = `${role}'s reply to '${type}'`;
  const raw = decodeMessage(okFlag, data, what);
  if (raw.ok === false) throw new CommandFailed(role, validateMessage(errorReplySchema, raw, what).error);
  return validateMessage(okReplySchemas[type], raw, what) as OkReply<T>;
}

// Only the discriminating key is checked first; the per-type schema checks the rest.
const okFlag = z.looseObject({ ok: z.boolean() });

// ---- service side -------------------------------------------------------------------------------
/** What a handler returns: the reply without `ok`. */
export type ReplyBody<T extends CommandType> = Omit<OkReply<T>, 'ok'>;
export type CommandHandlers = { [T in CommandType]?: (cmd: CommandOf<T>) => Promise<ReplyBody<T>> };

export function serveCommands(
  nc: NatsConnection,
  subjects: RunSubjects,
  role: ServiceRole,
  handlers: CommandHandlers,
  log: Logger,
  rank = 0,
): Subscription {
  let queue: Promise<void> = Promise.resolve();
  return nc.subscribe(subjects.cmd(role, rank), {
    callback: (err, msg) => {
      if (err) return;
      queue = queue.then(() => answer(msg, subjects.run, role, handlers, log)).catch(() => undefined);
    },
  });
}

async function answer(msg: Msg, run: string, role: ServiceRole, handlers: CommandHandlers, log: Logger): Promise<void> {
  let reply: unknown;
  let cmd: Command | undefined;
  try {
    cmd = decodeMessage(commandSchema, msg.data, `${role} command`);
    if (cmd.run !== run) throw new ServiceError('wrong-run', `command for run ${cmd.run} reached the ${role} of run ${run}`);
    const handler = handlers[cmd.type] as ((c: Command) => Promise<object>) | undefined;
    if (!handler) throw new ServiceError('bad-request', `type: the ${role} does not handle '${cmd.type}' commands`, { field: 'type' });
    reply = { ok: true, ...(await handler(cmd)) };
  } catch (err) {
    const error = toErrorDetails(err);
    if (error.code === 'internal') log.error('command failed', { command: cmd?.type, error: err });
    reply = { ok: false, error };
  }
  try {
    msg.respond(encodeMessage(reply));
  } catch (err) {
    log.warn('cannot send a reply', { error: err });
  }
}

export function toErrorDetails(err: unknown): RemoteErrorDetails {
  if (err instanceof MessageError) return { code: 'bad-request', message: err.message, field: err.field };
  if (err instanceof NonFiniteError) return { code: 'non-finite', message: err.message, quantity: err.quantity, iteration: err.iteration };
  if (err instanceof ServiceError) return { code: err.code, message: err.message, ...err.extra };
  if (err instanceof RunWriteError) return { code: 'write-failed', message: err.message, file: err.file };
  const message = err instanceof Error ? chain(err) : String(err);
  return { code: 'internal', message };
}

function chain(err: Error): string {
  const parts: string[] = [];
  for (let cur: unknown = err; cur instanceof Error && parts.length < 4; cur = cur.cause) parts.push(cur.message);
  return parts.join(': ');
}
