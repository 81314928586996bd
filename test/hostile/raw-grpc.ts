// A gRPC client that sends raw bytes: identity request serializers, so a case can put on the wire
// what the generated types cannot express (truncated messages, bad wire types, unknown enum
// numbers, negative int64 dimensions). Answers come back as an Answer: the status name and
// details of a failed call, or 'OK' / 'NOT_APPLIED' / 'APPLIED' for one that succeeded.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { serviceDefinition } from '../../services/wire/proto.ts';
import type { Answer } from './tally.ts';

const identity = (b: Buffer): Buffer => b;

export type Kind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

export interface RawMethod {
  service: string;
  method: string;
  kind: Kind;
  def: MethodDefinition<object, object>;
}

export function rawMethod(service: string, method: string): RawMethod {
  const def = serviceDefinition(service)[method] as MethodDefinition<object, object>;
  if (!def) throw new Error(`${service} has no method ${method}`);
  const kind: Kind = def.requestStream ? (def.responseStream ? 'bidi' : 'clientStream') : def.responseStream ? 'serverStream' : 'unary';
  return { service, method, kind, def };
}

/** The bytes the real serializer makes of `msg` (a starting point for mutations). */
export const encode = (m: RawMethod, msg: object): Buffer => m.def.requestSerialize(msg);

/** What a successful answer means: applied updates are told apart from answered retries. */
function okKind(res: unknown): string {
  const applied = (res as { applied?: unknown } | null)?.applied;
  return applied === true ? 'APPLIED' : applied === false ? 'NOT_APPLIED' : 'OK';
}

const failed = (err: grpc.ServiceError): Answer => ({ kind: grpc.status[err.code] ?? `status ${err.code}`, message: err.details });

export class RawClient {
  private readonly clients = new Map<string, grpc.Client>();

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    // Sends are unlimited (grpc-js default); receives as large as a server may answer.
    if (!c) this.clients.set(address, (c = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 })));
    return c;
  }

  /**
   * One call of `m` with `messages` as its request bytes (one for unary and server-streaming
   * calls). `cancelAfterMs` cancels the call from the client side after that long.
   */
  call(address: string, m: RawMethod, messages: readonly Buffer[], opts: { deadlineMs?: number; cancelAfterMs?: number } = {}): Promise<Answer> {
    const options = { deadline: Date.now() + (opts.deadlineMs ?? 20_000) };
    const deserialize = (b: Buffer): unknown => m.def.responseDeserialize(b);
    return new Promise<Answer>((resolve) => {
      const done = (err: grpc.ServiceError | null, res?: unknown): void => resolve(err ? failed(err) : { kind: okKind(res) });
      let call: grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown> | grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, unknown>;
      if (m.kind === 'unary') {
        call = this.client(address).makeUnaryRequest(m.def.path, identity, deserialize, messages[0], new grpc.Metadata(), options, done);
      } else if (m.kind === 'clientStream') {
        const w = this.client(address).makeClientStreamRequest(m.def.path, identity, deserialize, new grpc.Metadata(), options, done);
        for (const b of messages) w.write(b);
        if (opts.cancelAfterMs === undefined) w.end();
        call = w;
      } else if (m.kind === 'serverStream') {
        const r = this.client(address).makeServerStreamRequest(m.def.path, identity, deserialize, messages[0], new grpc.Metadata(), options);
        drain(r, done);
        call = r;
      } else {
        const d = this.client(address).makeBidiStreamRequest(m.def.path, identity, deserialize, new grpc.Metadata(), options);
        drain(d, done);
        for (const b of messages) d.write(b);
        d.end();
        call = d;
      }
      if (opts.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), opts.cancelAfterMs);
    });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

/** Reads a response stream to its end; the first status decides the answer. */
function drain(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<Buffer, unknown>, done: (err: grpc.ServiceError | null) => void): void {
  let settled = false;
  const finish = (err: grpc.ServiceError | null): void => {
    if (settled) return;
    settled = true;
    done(err);
  };
  stream.on('data', () => undefined);
  stream.on('error', (err: grpc.ServiceError) => finish(err));
  stream.on('status', (s: grpc.StatusObject) => { if (s.code === grpc.status.OK) finish(null); });
}
