// The CollectiveService of one rank: it accepts the Ring stream of its left neighbour and hands it
// to the RingGroup of the stream's generation. One endpoint lives as long as the process's gRPC
// server (services are added before listen()); groups of successive generations attach to it.
//
// Hello protocol (the first frame of every Ring stream):
//   - run other than the endpoint's or the group's                -> refused (FAILED_PRECONDITION)
//   - generation older than the newest group ever attached        -> refused
//   - generation with an attached group: sender must be the left
//     neighbour and agree on the size, else refused; else the group adopts the stream and
//     RingAck{hello_accepted} is sent
//   - newer generation, no group yet                              -> held until that group attaches
//     (the sender's connect timeout bounds the wait; a cancelled held stream is dropped)
import type * as grpc from '@grpc/grpc-js';
import { bidiStream, type GantryServer } from '../wire/server.ts';
import { COLLECTIVE_SERVICE } from '../wire/proto.ts';
import { CollectiveRefusedError } from '../wire/errors.ts';
import type { RingFrame__Output } from '../wire/generated/gantry/v1/RingFrame.ts';
import type { RingHello__Output } from '../wire/generated/gantry/v1/RingHello.ts';
import type { RingAck } from '../wire/generated/gantry/v1/RingAck.ts';
import { CollectiveConfigError } from './errors.ts';
import { mod } from './ring-plan.ts';

export type RingServerCall = grpc.ServerDuplexStream<RingFrame__Output, RingAck>;

/** An accepted Ring stream from the left neighbour. */
export interface InboundEdge {
  readonly call: RingServerCall;
  readonly hello: RingHello__Output;
  /** Ends the stream with err's status (a CollectiveRefusedError becomes FAILED_PRECONDITION). */
  fail(err: unknown): void;
}

/** What the endpoint needs of a group (RingGroup). */
export interface InboundSink {
  readonly runId: string;
  readonly generation: number;
  readonly rank: number;
  readonly size: number;
  /** Takes over the stream's 'data' and end events. */
  adopt(edge: InboundEdge): void;
}

export interface CollectiveEndpointOptions {
  /** Refuse streams of any other run; unset: each group's run id decides. */
  runId?: string;
}

export class CollectiveEndpoint {
  private readonly groups = new Map<number, InboundSink>();
  private readonly pending = new Set<InboundEdge>();
  private readonly streams = new Set<RingServerCall>();
  private newestGeneration = -1;

  constructor(private readonly opts: CollectiveEndpointOptions = {}) {}

  addToServer(server: GantryServer): void {
    server.addService(COLLECTIVE_SERVICE, {
      Ring: bidiStream((call: RingServerCall, fail: (err: unknown) => void) => this.onStream(call, fail)),
    });
  }

  /** Open Ring streams (adopted or held): 0 once every group is closed and its peers are gone. */
  get streamCount(): number {
    return this.streams.size;
  }

  attach(group: InboundSink): void {
    if (this.opts.runId !== undefined && group.runId !== this.opts.runId) {
      throw new CollectiveConfigError('runId', `the endpoint's run ${JSON.stringify(this.opts.runId)}`, JSON.stringify(group.runId));
    }
    if (group.generation < this.newestGeneration || this.groups.has(group.generation)) {
      throw new CollectiveConfigError('generation', `a generation newer than ${this.newestGeneration} (the newest attached)`, String(group.generation));
    }
    this.groups.set(group.generation, group);
    this.newestGeneration = group.generation;
    for (const edge of [...this.pending]) {
      if (edge.hello.generation <= group.generation) {
        this.pending.delete(edge);
        this.route(edge);
      }
    }
  }

  detach(group: InboundSink): void {
    if (this.groups.get(group.generation) === group) this.groups.delete(group.generation);
  }

  private onStream(call: RingServerCall, fail: (err: unknown) => void): void {
    this.streams.add(call);
    const forget = (): void => { this.streams.delete(call); };
    call.once('cancelled', forget);
    call.once('close', forget);
    call.once('error', forget);
    call.once('data', (frame: RingFrame__Output) => {
      if (!frame.hello) {
        fail(new CollectiveRefusedError('position', 'frame', 'a hello first', frame.frame ?? 'an empty frame'));
        return;
      }
      const edge: InboundEdge = { call, hello: frame.hello, fail };
      // A held stream whose sender gave up is dropped.
      call.once('cancelled', () => this.pending.delete(edge));
      this.route(edge);
    });
  }

  private route(edge: InboundEdge): void {
    const { hello } = edge;
    const refuse = (kind: CollectiveRefusedError['kind'], field: string, expected: string, found: string): void => {
      edge.fail(new CollectiveRefusedError(kind, field, expected, found));
    };
    if (this.opts.runId !== undefined && hello.runId !== this.opts.runId) {
      refuse('run', 'hello.run_id', JSON.stringify(this.opts.runId), JSON.stringify(hello.runId));
      return;
    }
    const group = this.groups.get(hello.generation);
    if (!group) {
      if (hello.generation < this.newestGeneration) {
        refuse('generation', 'hello.generation', `${this.newestGeneration} (the current generation)`, String(hello.generation));
      } else {
        this.pending.add(edge);
      }
      return;
    }
    if (hello.runId !== group.runId) return refuse('run', 'hello.run_id', JSON.stringify(group.runId), JSON.stringify(hello.runId));
    if (hello.size !== group.size) return refuse('size', 'hello.size', String(group.size), String(hello.size));
    const left = mod(group.rank - 1, group.size);
    if (hello.fromRank !== left) return refuse('rank', 'hello.from_rank', `${left} (the left neighbour of rank ${group.rank})`, String(hello.fromRank));
    group.adopt(edge);
    edge.call.write({ helloAccepted: true });
  }
}
