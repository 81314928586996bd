// The ring edge from this rank to its right neighbour: one CollectiveService/Ring stream, opened with
// a hello, carrying chunks under two limits: at most `window` chunks not yet acknowledged by the
// receiver (credits returned in RingAck.consumed), and the stream's own write() backpressure
// ('drain'). `idle` is true when every queued chunk has been serialized and handed to HTTP/2, so
// the caller may reuse the buffer the chunks were views of.
import type * as grpc from '@grpc/grpc-js';
import { RpcClient, type ClientOptions } from '../wire/client.ts';
import type { PeerError } from '../wire/errors.ts';
import { COLLECTIVE_SERVICE } from '../wire/proto.ts';
import type { RingFrame } from '../wire/generated/gantry/v1/RingFrame.ts';
import type { RingAck__Output } from '../wire/generated/gantry/v1/RingAck.ts';
import type { RingHello } from '../wire/generated/gantry/v1/RingHello.ts';
import type { RingAbort, RingAbort__Output } from '../wire/generated/gantry/v1/RingAbort.ts';

/** How the link ended, reported once: a status error, or the receiver ending its side. */
export type LinkFailure = { kind: 'error'; error: PeerError } | { kind: 'ended' };

export class OutboundLink {
  private readonly client: RpcClient;
  private call: grpc.ClientDuplexStream<RingFrame, RingAck__Output> | undefined;
  private queue: (() => RingFrame)[] = [];
  private head = 0;
  private credits: number;
  private writable = true;
  private unflushed = 0;
  private helloWaiter: { resolve: () => void; reject: (f: LinkFailure) => void } | undefined;
  private ended = false;
  /** Chunks written and bytes of their payloads, for metrics. */
  bytesSent = 0;
  /** Called once when the stream fails or the receiver ends it (never after close()). */
  onFailure: (f: LinkFailure) => void = () => undefined;
  /** Called when the right neighbour reports that its group failed (RingAck.abort). */
  onAbort: (a: RingAbort__Output) => void = () => undefined;
  /** Called whenever the link becomes idle (queue empty, every write flushed). */
  onIdle: () => void = () => undefined;

  constructor(
    readonly address: string,
    private readonly window: number,
    clientOpts: ClientOptions,
  ) {
    this.client = new RpcClient(address, COLLECTIVE_SERVICE, clientOpts);
    this.credits = window;
  }

  /** Sends the hello and resolves when the right neighbour's group accepted it. */
  open(hello: RingHello): Promise<void> {
    const { call, toError } = this.client.duplex<RingFrame, RingAck__Output>('Ring');
    this.call = call;
    const accepted = new Promise<void>((resolve, reject) => { this.helloWaiter = { resolve, reject }; });
    call.on('data', (ack: RingAck__Output) => {
      if (ack.abort) {
        this.onAbort(ack.abort);
        return;
      }
      if (ack.helloAccepted && this.helloWaiter) {
        this.helloWaiter.resolve();
        this.helloWaiter = undefined;
      }
      if (ack.consumed > 0) {
        this.credits += ack.consumed;
        this.pump();
      }
    });
    call.on('error', (err: grpc.ServiceError) => this.fail({ kind: 'error', error: toError(err) }));
    // The receiver ended its side without an error: its group closed.
    call.on('end', () => this.fail({ kind: 'ended' }));
    call.write({ hello });
    return accepted;
  }

  get idle(): boolean {
    return this.head === this.queue.length && this.unflushed === 0;
  }

  /** Queues frames built lazily at write time (a chunk's bytes are read when it is serialized). */
  send(frames: (() => RingFrame)[]): void {
    if (this.ended) return;
    for (const f of frames) this.queue.push(f);
    this.pump();
  }

  /** Ends the stream, after telling the right neighbour why when `abort` is given. Safe to call twice. */
  close(abort?: RingAbort): void {
    if (this.ended) return;
    this.ended = true;
    const call = this.call;
    this.queue = [];
    this.head = 0;
    if (call) {
      if (abort) call.write({ abort });
      call.end();
      // Give the graceful end a moment to reach the peer, then make sure nothing stays open.
      setTimeout(() => call.cancel(), 200).unref();
    }
    this.helloWaiter?.reject({ kind: 'ended' });
    this.helloWaiter = undefined;
    this.client.close();
  }

  private fail(f: LinkFailure): void {
    if (this.ended) return;
    this.ended = true;
    this.helloWaiter?.reject(f);
    this.helloWaiter = undefined;
    this.call?.cancel();
    this.client.close();
    this.onFailure(f);
  }

  private pump(): void {
    const call = this.call;
    if (!call || this.ended) return;
    while (this.head < this.queue.length && this.credits > 0 && this.writable) {
      const frame = this.queue[this.head++]();
      this.credits--;
      this.unflushed++;
      this.bytesSent += frame.chunk?.data?.length ?? 0;
      const ok = call.write(frame, () => {
        this.unflushed--;
        if (this.idle) this.onIdle();
      });
      if (!ok) {
        this.writable = false;
        call.once('drain', () => {
          this.writable = true;
          this.pump();
        });
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      if (this.unflushed === 0) this.onIdle();
    }
  }
}
