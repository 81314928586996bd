// Requests whose bytes do not parse. grpc-js answers a request deserializer that throws with
// INTERNAL "Error deserializing request", which blames the server for a client's bad bytes. Every
// method a GantryServer serves (gantry's own, health and reflection) gets a deserializer that
// returns an Unparsed marker instead; the method's handler answers the marker INVALID_ARGUMENT
// (MalformedRequestError: the method and the byte count) before any handler code sees it.
//
// gantry's handlers check for the marker in server.ts; services gantry does not write (health,
// reflection) are registered through tolerantRegistrar, which also clips their error details
// (grpc-health-check echoes a requested service name whole).
import * as grpc from '@grpc/grpc-js';
import { clipText } from '../telemetry/clip.ts';
import { MalformedRequestError, MAX_DETAILS_CHARS, toStatus } from './errors.ts';

export class Unparsed {
  constructor(readonly error: MalformedRequestError) {}
}

/** `deserialize`, returning an Unparsed marker where it would throw. `method` names it in the error. */
export function tolerantDeserialize<T>(deserialize: (b: Buffer) => T, method: string): (b: Buffer) => T | Unparsed {
  return (b) => {
    try {
      return deserialize(b);
    } catch (err) {
      return new Unparsed(new MalformedRequestError(method, b.length, { cause: err }));
    }
  };
}

/** The requests of a client stream; throws the MalformedRequestError of the first one that did not parse. */
export async function* parsedRequests<T>(requests: AsyncIterable<T | Unparsed>): AsyncGenerator<T> {
  for await (const r of requests) {
    if (r instanceof Unparsed) throw r.error;
    yield r;
  }
}

type AnyHandler = (call: any, callback?: any) => void;
type Definition = Record<string, { path: string; requestStream: boolean; responseStream: boolean; originalName?: string; requestDeserialize: (b: Buffer) => unknown }>;

/**
 * Something to pass to a third-party `addToServer(server)`: it registers on `server` with
 * tolerant deserializers, handlers that answer Unparsed requests INVALID_ARGUMENT, and unary
 * error details clipped to MAX_DETAILS_CHARS.
 */
export function tolerantRegistrar(server: grpc.Server): grpc.Server {
  const addService = (def: Definition, impl: Record<string, AnyHandler>): void => {
    const defs: Definition = {};
    const handlers: Record<string, AnyHandler> = {};
    for (const [name, m] of Object.entries(def)) {
      const label = m.path.slice(1);
      defs[name] = { ...m, requestDeserialize: tolerantDeserialize(m.requestDeserialize, label) };
      const h = impl[name] ?? (m.originalName ? impl[m.originalName] : undefined);
      if (h) handlers[name] = guard(h, m.requestStream, m.responseStream);
    }
    server.addService(defs as unknown as grpc.ServiceDefinition, handlers as grpc.UntypedServiceImplementation);
  };
  return { addService } as unknown as grpc.Server;
}

function clipped(err: Partial<grpc.StatusObject> | null): Partial<grpc.StatusObject> | null {
  return err && typeof err.details === 'string' ? { ...err, details: clipText(err.details, MAX_DETAILS_CHARS) } : err;
}

function guard(h: AnyHandler, requestStream: boolean, responseStream: boolean): AnyHandler {
  if (!requestStream) {
    return (call: { request: unknown; emit(e: string, s: unknown): void }, callback?: (err: unknown, res?: unknown) => void) => {
      if (call.request instanceof Unparsed) {
        if (responseStream) call.emit('error', toStatus(call.request.error));
        else callback!(toStatus(call.request.error));
        return;
      }
      if (responseStream) h(call);
      else h(call, (err: Partial<grpc.StatusObject> | null, res?: unknown) => callback!(clipped(err), res));
    };
  }
  return (call: Emitter, callback?: unknown) => {
    refuseUnparsedData(call, (err) => call.emit('error', toStatus(err)));
    h(call, callback);
  };
}

type Emitter = { emit: (event: string | symbol, ...args: any[]) => boolean };

/**
 * Streamed requests that a handler reads as 'data' events (bidirectional calls): an Unparsed one
 * is not delivered; `refuse` gets its MalformedRequestError instead.
 */
export function refuseUnparsedData(call: Emitter, refuse: (err: MalformedRequestError) => void): void {
  const emit = call.emit.bind(call);
  call.emit = (event, ...args) => {
    if (event === 'data' && args[0] instanceof Unparsed) {
      refuse(args[0].error);
      return true;
    }
    return emit(event, ...args);
  };
}
