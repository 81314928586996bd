// A gRPC client channel for one gantry service: the same message limits as the server, keepalive,
// a deadline on every call (grpc-js has none by default), byte and latency metrics, and failed
// calls turned into typed PeerErrors (errors.ts). Service clients (GeneratorClient,
// DiscriminatorClient) are thin typed layers over RpcClient. With TLS settings (tls.ts) the channel
// verifies the server against the CA, its name and its gantry role, and presents this process's
// certificate for mutual TLS.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { HEALTH_SERVICE, serviceDefinition } from './proto.ts';
import { fromStatus, PeerError } from './errors.ts';
import { serverRoleOf } from './peer-auth.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, methodLabel } from './server.ts';
import { channelCredentials, type GrpcTls } from './tls.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/** Default deadlines in milliseconds (override per client or per call). */
export const DEFAULT_DEADLINES_MS = {
  /** Compute calls (Generate, ApplyUpstreamGradient, TrainStep, GeneratorGrad): a step on a slow backend. */
  call: 120_000,
  /** A whole weights stream (StreamWeights, LoadWeights). */
  weights: 300_000,
  /** Health checks. */
  health: 5_000,
} as const;

export interface ClientOptions {
  /** grpc.max_receive_message_length and max_send_message_length; default 64 MiB (as the server). */
  maxMessageBytes?: number;
  /** Deadline of compute calls; default DEFAULT_DEADLINES_MS.call. */
  deadlineMs?: number;
  /** Deadline of weights streams; default DEFAULT_DEADLINES_MS.weights. */
  weightsDeadlineMs?: number;
  /**
   * Keepalive ping interval (default 30 s) and how long to wait for its ack before dropping the
   * connection (default 120 s). A server inside a synchronous tfjs step answers no pings, so the
   * timeout must exceed the longest step (tens of seconds for a DCGAN on the cpu backend).
   */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  metrics?: Metrics;
  /** TLS (and the client certificate for mutual TLS); plaintext when absent. */
  tls?: GrpcTls;
}

/** Per-call options of the service clients. */
export interface CallOptions {
  deadlineMs?: number;
}

export function channelOptions(opts: ClientOptions = {}): grpc.ChannelOptions {
  const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    'grpc.keepalive_time_ms': opts.keepaliveTimeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 120_000,
    'grpc.keepalive_permit_without_calls': 1,
    // HTTP/2's default 64 KiB receive window makes a larger response (a (64, 28, 28, 1) batch is
    // 200 KB) wait for window updates, which a peer busy in a synchronous tfjs step sends late.
    'grpc-node.flow_control_window': max,
  };
}

type Method = MethodDefinition<object, object>;

export class RpcClient {
  private readonly client: grpc.Client;
  private readonly methods: Record<string, Method>;

  constructor(
    /** host:port of the server; also the `peer` of PeerErrors. */
    readonly address: string,
    readonly service: string,
    private readonly opts: ClientOptions = {},
  ) {
    this.methods = serviceDefinition(service);
    this.client = new grpc.Client(address, channelCredentials(opts.tls, serverRoleOf(service)), channelOptions(opts));
  }

  /** Default deadline of this client for compute calls or weights streams. */
  deadline(kind: 'call' | 'weights', call?: CallOptions): number {
    if (call?.deadlineMs !== undefined) return call.deadlineMs;
    return kind === 'call' ? (this.opts.deadlineMs ?? DEFAULT_DEADLINES_MS.call) : (this.opts.weightsDeadlineMs ?? DEFAULT_DEADLINES_MS.weights);
  }

  unary<Req extends object, Res extends object>(method: string, req: Req, deadlineMs: number): Promise<Res> {
    const { def, label, serialize, deserialize, done } = this.prepare(method);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(def.path, serialize, deserialize, req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs },
        (err, res) => {
          done(err?.code ?? grpc.status.OK);
          if (err) reject(fromStatus(err, label, this.address));
          else resolve(res as Res);
        });
    });
  }

  /** The messages of a server-streaming call; the deadline covers the whole stream. */
  async *serverStream<Req extends object, Res extends object>(method: string, req: Req, deadlineMs: number): AsyncGenerator<Res> {
    const { def, label, serialize, deserialize, done } = this.prepare(method);
    const call = this.client.makeServerStreamRequest(def.path, serialize, deserialize, req, new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs });
    // Errors reach the loop below; this keeps a late status (after an early return) from being unhandled.
    call.on('error', () => undefined);
    try {
      for await (const msg of call) yield msg as Res;
      done(grpc.status.OK);
    } catch (err) {
      const status = err as grpc.ServiceError;
      done(status.code ?? grpc.status.UNKNOWN);
      throw fromStatus(status, label, this.address);
    } finally {
      call.cancel();
    }
  }

  /** Sends `requests` as one client-streaming call (with backpressure) and returns the reply. */
  clientStream<Req extends object, Res extends object>(method: string, requests: Iterable<Req>, deadlineMs: number): Promise<Res> {
    const { def, label, serialize, deserialize, done } = this.prepare(method);
    return new Promise((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(def.path, serialize, deserialize, new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs }, (err, res) => {
          done(err?.code ?? grpc.status.OK);
          if (err) reject(fromStatus(err, label, this.address));
          else resolve(res as Res);
        });
      const iterator = requests[Symbol.iterator]();
      const pump = (): void => {
        try {
          for (let next = iterator.next(); !next.done; next = iterator.next()) {
            if (!call.write(next.value)) {
              call.once('drain', pump);
              return;
            }
          }
          call.end();
        } catch (err) {
          // The request source failed (e.g. a bad snapshot): abandon the call, report the cause.
          done(grpc.status.CANCELLED);
          call.cancel();
          reject(err);
        }
      };
      pump();
    });
  }

  /**
   * Opens a bidirectional stream; the caller owns it (writes, reads, cancel). `deadlineMs`
   * undefined means no gRPC deadline: the caller must bound every wait itself (the collectives
   * keep one stream per ring edge for a whole generation and time each collective). Errors on
   * the stream are PeerErrors.
   */
  duplex<Req extends object, Res extends object>(method: string, deadlineMs?: number): DuplexCall<Req, Res> {
    const { def, label, serialize, deserialize, done } = this.prepare(method);
    const call = this.client.makeBidiStreamRequest(def.path, serialize, deserialize, new grpc.Metadata(),
      deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs }) as unknown as grpc.ClientDuplexStream<Req, Res>;
    call.on('status', (status: grpc.StatusObject) => done(status.code));
    return { call, toError: (status) => fromStatus(status, label, this.address) };
  }

  /** Resolves once the channel is connected; rejects with PeerUnavailableError after timeoutMs. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => {
        if (err) reject(fromStatus({ code: grpc.status.UNAVAILABLE, details: err.message }, `${this.service}/connect`, this.address));
        else resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }

  private prepare(method: string) {
    const def = this.methods[method];
    if (!def) throw new PeerError(grpc.status.UNIMPLEMENTED, `${this.service}/${method}`, this.address, 'no such method in the proto');
    const label = methodLabel(this.service, method);
    const bytes = this.opts.metrics?.grpcClientBytes;
    const serialize = (value: object): Buffer => {
      const buf = def.requestSerialize(value);
      bytes?.inc({ method: label, direction: 'sent' }, buf.length);
      return buf;
    };
    const deserialize = (buf: Buffer): object => {
      bytes?.inc({ method: label, direction: 'received' }, buf.length);
      return def.responseDeserialize(buf);
    };
    const end = this.opts.metrics?.grpcDuration.startTimer({ method: label, side: 'client' });
    let ended = false;
    const done = (code: grpc.status): void => {
      if (ended) return;
      ended = true;
      end?.({ code: grpc.status[code] ?? String(code) });
    };
    return { def, label, serialize, deserialize, done };
  }
}

/** A raw bidirectional call and the typed error for a status it ends with. */
export interface DuplexCall<Req, Res> {
  call: grpc.ClientDuplexStream<Req, Res>;
  toError: (status: Partial<grpc.StatusObject>) => PeerError;
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** grpc.health.v1 Check of `service` ("" = the whole server). Throws PeerError (NOT_FOUND for an unknown service). */
export async function checkHealth(address: string, service = '', deadlineMs: number = DEFAULT_DEADLINES_MS.health, tls?: GrpcTls): Promise<HealthStatus> {
  const client = new RpcClient(address, HEALTH_SERVICE, { tls });
  try {
    const res = await client.unary<{ service: string }, { status: HealthStatus }>('Check', { service }, deadlineMs);
    return res.status;
  } finally {
    client.close();
  }
}

/** Polls Check until SERVING; rejects with the last PeerError or a timeout error after timeoutMs. */
export async function waitForServing(address: string, service = '', timeoutMs = 30_000, pollMs = 100, tls?: GrpcTls): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < until) {
    try {
      const status = await checkHealth(address, service, Math.max(1, Math.min(DEFAULT_DEADLINES_MS.health, until - Date.now())), tls);
      if (status === 'SERVING') return;
      last = status;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw fromStatus({ code: grpc.status.DEADLINE_EXCEEDED,
    details: `service ${JSON.stringify(service)} not SERVING after ${timeoutMs} ms (last: ${last})` },
  methodLabel(HEALTH_SERVICE, 'Check'), address);
}
