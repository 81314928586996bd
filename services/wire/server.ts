// A gRPC server for gantry services: raised message limits, keepalive, the standard health
// service (grpc.health.v1, truthful: NOT_SERVING until setServing(true), NOT_SERVING again as soon
// as shutdown begins), server reflection, per-method byte and latency metrics, and handlers that
// answer exactly once with typed errors mapped to status codes (errors.ts). With TLS settings
// (tls.ts) it serves TLS or mutual TLS; with mutual TLS every method added by addService first
// checks the caller's role (peer-auth.ts), while health and reflection stay open. A plaintext
// listener on a non-loopback address is refused unless `insecure` (security/listeners.ts).
//
// Handlers are plain functions wrapped by unary(), serverStream() and clientStream(); they return
// (or yield) messages and throw typed errors; the wrapper does the answering.
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { MethodDefinition } from '@grpc/proto-loader';
import { HEALTH_SERVICE, healthPackageDefinition, packageDefinition, serviceDefinition } from './proto.ts';
import { toStatus } from './errors.ts';
import { authorizePeer } from './peer-auth.ts';
import { serverCredentials, type GrpcTls } from './tls.ts';
import { parsedRequests, refuseUnparsedData, tolerantDeserialize, tolerantRegistrar, Unparsed } from './unparsed.ts';
import { assertListenerAllowed } from '../security/listeners.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/log.ts';

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** How long a failed client-streaming handler waits to learn whether the client cancelled. */
const CANCEL_GRACE_MS = 50;

export interface ServerOptions {
  /** grpc.max_receive_message_length and max_send_message_length; default 64 MiB. */
  maxMessageBytes?: number;
  /** Serve grpc.reflection (v1 and v1alpha); default true. */
  reflection?: boolean;
  /**
   * Server keepalive pings (default every 60 s) and how long to wait for the ack (default 120 s,
   * longer than a step: a client process busy in synchronous tfjs work answers no pings).
   */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  metrics?: Metrics;
  /** Receives INTERNAL errors (bugs) with their stack, and client cancellations at info. */
  logger?: Logger;
  /** TLS, or mutual TLS with per-method peer roles (tls.mtls); plaintext when absent. */
  tls?: GrpcTls;
  /** With mutual TLS: client certificates bound to another run are refused. */
  runId?: string;
  /** Allow a plaintext listener on a non-loopback address (--insecure). */
  insecure?: boolean;
}

interface Unary<Req, Res> { kind: 'unary'; fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res> }
interface ServerStream<Req, Res> { kind: 'serverStream'; fn: (req: Req) => Iterable<Res> | AsyncIterable<Res> }
interface ClientStream<Req, Res> { kind: 'clientStream'; fn: (requests: AsyncIterable<Req>) => Promise<Res> }
/**
 * A long-lived bidirectional stream owned by its handler (the collectives' ring edges): the handler
 * reads and writes `call` itself, ends it with call.end(), and fails it with `fail(err)`, which
 * sends err's status (toStatus) exactly once.
 */
interface BidiStream<Req, Res> {
  kind: 'bidiStream';
  fn: (call: grpc.ServerDuplexStream<Req, Res>, fail: (err: unknown) => void) => void;
}
// Handlers are checked against their request/response types where they are written (unary<Req, Res>).
export type Handler = Unary<any, any> | ServerStream<any, any> | ClientStream<any, any> | BidiStream<any, any>;

export const unary = <Req, Res>(fn: Unary<Req, Res>['fn']): Unary<Req, Res> => ({ kind: 'unary', fn });
export const serverStream = <Req, Res>(fn: ServerStream<Req, Res>['fn']): ServerStream<Req, Res> => ({ kind: 'serverStream', fn });
export const clientStream = <Req, Res>(fn: ClientStream<Req, Res>['fn']): ClientStream<Req, Res> => ({ kind: 'clientStream', fn });
export const bidiStream = <Req, Res>(fn: BidiStream<Req, Res>['fn']): BidiStream<Req, Res> => ({ kind: 'bidiStream', fn });

/** "gantry.v1.GeneratorService" + "Generate" -> "GeneratorService/Generate" (the metrics label). */
export function methodLabel(service: string, method: string): string {
  return `${service.split('.').pop()}/${method}`;
}

/**
 * A copy of `def` whose request deserializer answers bytes that do not parse with an Unparsed
 * marker (unparsed.ts) and whose (de)serializers count bytes when there are metrics.
 */
function servedMethod(def: MethodDefinition<object, object>, label: string, metrics: Metrics | undefined): MethodDefinition<object, object> {
  const parse = tolerantDeserialize(def.requestDeserialize, label) as (b: Buffer) => object;
  if (!metrics) return { ...def, requestDeserialize: parse };
  const bytes = metrics.grpcServerBytes;
  return {
    ...def,
    requestDeserialize: (buf: Buffer) => {
      bytes.inc({ method: label, direction: 'received' }, buf.length);
      return parse(buf);
    },
    responseSerialize: (value: object) => {
      const buf = def.responseSerialize(value);
      bytes.inc({ method: label, direction: 'sent' }, buf.length);
      return buf;
    },
  };
}

export class GantryServer {
  readonly grpcServer: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly services: string[] = [];
  private serving = false;
  private boundPort: number | undefined;
  private listening = false;

  constructor(private readonly opts: ServerOptions = {}) {
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 60_000,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 120_000,
    });
    this.health.addToServer(tolerantRegistrar(this.grpcServer));
  }

  /** Registers `name` (e.g. GENERATOR_SERVICE) with one handler per RPC; its health starts NOT_SERVING. */
  addService(name: string, handlers: Record<string, Handler>): void {
    // Reflection is built from the services present when listen() runs.
    if (this.listening) throw new Error(`GantryServer.addService(${name}): add services before listen()`);
    const def = serviceDefinition(name);
    const methods = Object.keys(def);
    const missing = methods.filter((m) => !(m in handlers));
    const extra = Object.keys(handlers).filter((m) => !methods.includes(m));
    if (missing.length || extra.length) {
      throw new Error(`GantryServer.addService(${name}): missing handlers [${missing.join(', ')}], unknown [${extra.join(', ')}]`);
    }
    const metered: Record<string, MethodDefinition<object, object>> = {};
    const impl: grpc.UntypedServiceImplementation = {};
    for (const m of methods) {
      const label = methodLabel(name, m);
      metered[m] = servedMethod(def[m], label, this.opts.metrics);
      impl[m] = this.adapt(label, handlers[m]);
    }
    this.grpcServer.addService(metered, impl);
    this.services.push(name);
    this.health.setStatus(name, this.serving ? 'SERVING' : 'NOT_SERVING');
  }

  /** Binds host:port (0 picks a free port) and returns the bound port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    if (this.listening) throw new Error('GantryServer.listen: already listening');
    this.listening = true;
    if (this.opts.reflection ?? true) {
      const pkg = { ...packageDefinition, ...healthPackageDefinition };
      new ReflectionService(pkg, { services: [...this.services, HEALTH_SERVICE] }).addToServer(tolerantRegistrar(this.grpcServer));
    }
    assertListenerAllowed(host, port, { tls: this.opts.tls !== undefined, insecure: this.opts.insecure ?? false });
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(address, serverCredentials(this.opts.tls), (err, bound) => {
        if (!err) {
          resolve(bound);
          return;
        }
        const failed: NodeJS.ErrnoException = new Error(`gRPC server: cannot bind ${address}: ${err.message}`, { cause: err });
        // grpc-js reports a taken port only in its message; the launcher moves the service on this code.
        if (/EADDRINUSE/.test(err.message)) failed.code = 'EADDRINUSE';
        reject(failed);
      });
    });
    return this.boundPort;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('GantryServer.port: listen() has not completed');
    return this.boundPort;
  }

  /** Health of the whole server ("") and of every added service. Call once the model is ready. */
  setServing(serving: boolean): void {
    this.serving = serving;
    const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    for (const s of this.services) this.health.setStatus(s, status);
  }

  get isServing(): boolean {
    return this.serving;
  }

  /**
   * NOT_SERVING at once; after drainMs (time for probes and clients to notice) stops accepting
   * calls and waits up to graceMs for running calls before cancelling them.
   */
  async shutdown(opts: { drainMs?: number; graceMs?: number } = {}): Promise<void> {
    this.setServing(false);
    if (opts.drainMs) await new Promise((r) => setTimeout(r, opts.drainMs));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, opts.graceMs ?? 2_000);
      this.grpcServer.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private observe(label: string): (code: grpc.status) => void {
    const end = this.opts.metrics?.grpcDuration.startTimer({ method: label, side: 'server' });
    return (code) => end?.({ code: grpc.status[code] });
  }

  /**
   * The status for a failed handler. A call the client cancelled (or let pass its deadline) is not
   * a server fault: it is logged at info, without a stack, and answered CANCELLED (nobody reads it).
   */
  private statusFor(label: string, err: unknown, call: { cancelled: boolean }): grpc.StatusObject {
    if (call.cancelled) {
      this.opts.logger?.info('call cancelled by the client', { method: label, error: err instanceof Error ? err.message : String(err) });
      return { code: grpc.status.CANCELLED, details: 'cancelled by the client', metadata: new grpc.Metadata() };
    }
    const status = toStatus(err);
    if (status.code === grpc.status.INTERNAL) {
      this.opts.logger?.error('gRPC handler failed', { method: label, error: err, stack: (err as Error)?.stack });
    }
    return status;
  }

  /** The one way a unary or client-streaming handler answers: the first answer wins, later ones are dropped. */
  private answerOnce(label: string, call: { cancelled: boolean }, callback: grpc.sendUnaryData<unknown>): (err: unknown, res?: unknown) => void {
    const done = this.observe(label);
    let answered = false;
    return (err, res) => {
      if (answered) return;
      answered = true;
      const status = err === undefined ? undefined : this.statusFor(label, err, call);
      done(status?.code ?? grpc.status.OK);
      if (status) callback(status);
      else callback(null, res);
    };
  }

  /** With mutual TLS, throws PeerNotAllowedError unless the caller's role may call `label`. */
  private authorize(label: string, call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>): void {
    if (this.opts.tls?.mtls) authorizePeer(call, label, this.opts.runId);
  }

  private adapt(label: string, h: Handler): grpc.UntypedHandleCall {
    if (h.kind === 'unary') return this.adaptUnary(label, h);
    if (h.kind === 'serverStream') return this.adaptServerStream(label, h);
    if (h.kind === 'bidiStream') return this.adaptBidiStream(label, h);
    return this.adaptClientStream(label, h);
  }

  private adaptUnary(label: string, h: Unary<unknown, unknown>): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const answer = this.answerOnce(label, call, callback);
      Promise.resolve()
        .then(() => {
          this.authorize(label, call);
          if (call.request instanceof Unparsed) throw call.request.error;
          return h.fn(call.request, call);
        })
        .then((res) => answer(undefined, res), (err: unknown) => answer(err ?? new Error('handler rejected')));
    };
  }

  private adaptServerStream(label: string, h: ServerStream<unknown, unknown>): grpc.handleServerStreamingCall<unknown, unknown> {
    return async (call) => {
      const done = this.observe(label);
      try {
        this.authorize(label, call);
        if (call.request instanceof Unparsed) throw call.request.error;
        for await (const msg of h.fn(call.request)) {
          if (call.cancelled) {
            done(grpc.status.CANCELLED);
            return;
          }
          if (!call.write(msg)) await new Promise((r) => { call.once('drain', r); call.once('cancelled', r); });
        }
        done(grpc.status.OK);
        call.end();
      } catch (err) {
        const status = this.statusFor(label, err, call);
        done(status.code);
        if (!call.cancelled) call.emit('error', status);
      }
    };
  }

  private adaptBidiStream(label: string, h: BidiStream<unknown, unknown>): grpc.handleBidiStreamingCall<unknown, unknown> {
    return (call) => {
      const done = this.observe(label);
      let finished = false;
      const finish = (code: grpc.status): void => {
        if (finished) return;
        finished = true;
        done(code);
      };
      call.once('finish', () => finish(grpc.status.OK));
      call.once('cancelled', () => finish(grpc.status.CANCELLED));
      const fail = (err: unknown): void => {
        if (finished) return;
        const status = this.statusFor(label, err, call);
        finish(status.code);
        if (!call.cancelled) call.emit('error', status);
      };
      try {
        this.authorize(label, call);
        refuseUnparsedData(call, fail);
        h.fn(call, fail);
      } catch (err) {
        fail(err);
      }
    };
  }

  private adaptClientStream(label: string, h: ClientStream<unknown, unknown>): grpc.handleClientStreamingCall<unknown, unknown> {
    return (call, callback) => {
      const answer = this.answerOnce(label, call, callback);
      Promise.resolve().then(() => {
        this.authorize(label, call);
        return h.fn(parsedRequests(call));
      }).then((res) => answer(undefined, res), async (err: unknown) => {
        // A client's cancellation reaches the handler first as an early end of its request
        // stream (a "truncated stream" error); grpc-js flags the call cancelled only when the
        // HTTP/2 stream closes, a moment later. Wait that moment, so a cancellation is logged
        // as one (info) and not answered as the client's bad request.
        if (!call.cancelled) await new Promise((r) => { const t = setTimeout(r, CANCEL_GRACE_MS); call.once('cancelled', () => { clearTimeout(t); r(undefined); }); });
        answer(err ?? new Error('handler rejected'));
      });
    };
  }
}

export function createServer(opts: ServerOptions = {}): GantryServer {
  return new GantryServer(opts);
}
