// Hostile chunks on an accepted Ring stream: the sender plays rank 0 of a 2-rank group whose rank 1
// is a real RingGroup in the middle of an all-reduce, so every frame reaches the chunk checks
// (ring-group.ts onFrame, ring-op.ts check): foreign and stale (run, generation, step, sequence),
// wrong layouts and lengths, positions out of the plan, duplicates, oversized data, and streams
// that end or are cancelled mid-collective. The answer is how rank 1's collective failed (a
// CollectiveError: its kind, and a message naming the field); a sum that resolves is a violation.
// The state is the ring itself: after every few cases a fresh generation of two real ranks on the
// same endpoints must still sum exactly. Rank 0's side of rank 1's outbound stream is a sink that
// takes the chunks and gives credits back, so rank 1 is never held up by its right neighbour.
//
// NaN or Inf in a chunk of the right layout is not refused here: the ring carries values, and a
// non-finite element of the summed gradient is refused by the step itself on every rank alike
// (core/parallel/classifier-step.ts: NonFiniteError, nothing applied).
import type * as grpc from '@grpc/grpc-js';
import { CollectiveError, RingGroup } from '../../services/collective/index.ts';
import type { InboundEdge, InboundSink } from '../../services/collective/endpoint.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { COLLECTIVE_SERVICE } from '../../services/wire/proto.ts';
import type { RingAck__Output } from '../../services/wire/generated/gantry/v1/RingAck.ts';
import type { RingChunk } from '../../services/wire/generated/gantry/v1/RingChunk.ts';
import type { RingFrame } from '../../services/wire/generated/gantry/v1/RingFrame.ts';
import { makeGroups, startServers } from '../integration/collective-fixtures.ts';
import { servingHealth } from './grpc-inprocess.ts';
import { type Answer, type CaseSpec, Hostile, type Tally } from './tally.ts';

const RUN = 'run-a';
/** 8 values in chunks of 2: each segment of a 2-rank ring has two chunks. */
const ELEMENTS = 8;
const CHUNK_BYTES = 8;
const TIMEOUTS = { connectMs: 5_000, collectiveMs: 5_000 };

/** Rank 0's inbound side for rank 1's stream: takes every chunk and returns a credit. */
class CreditSink implements InboundSink {
  readonly runId = RUN;
  readonly rank = 0;
  readonly size = 2;
  private edge: InboundEdge | undefined;
  constructor(readonly generation: number) {}
  adopt(edge: InboundEdge): void {
    this.edge = edge;
    edge.call.on('data', (f: { chunk?: unknown }) => { if (f.chunk) edge.call.write({ consumed: 1 }); });
    edge.call.on('error', () => undefined);
  }
  close(): void {
    if (this.edge && !this.edge.call.cancelled) this.edge.call.end();
  }
}

type Ending = 'wait' | 'end' | 'cancel';

/** Plays rank 0 towards rank 1: the frames, then waits for rank 1 to end the stream, ends it, or cancels it. */
function playLeft(address: string, frames: RingFrame[], ending: Ending): { done: Promise<void>; stop(): void } {
  const client = new RpcClient(address, COLLECTIVE_SERVICE);
  const { call } = client.duplex<RingFrame, RingAck__Output>('Ring', 20_000);
  let accepted!: () => void;
  const helloAccepted = new Promise<void>((r) => { accepted = r; });
  call.on('data', (a: RingAck__Output) => { if (a.helloAccepted) accepted(); });
  const done = new Promise<void>((resolve) => {
    call.on('error', (_e: grpc.ServiceError) => resolve());
    call.on('end', () => resolve());
    call.on('close', () => resolve());
  });
  for (const f of frames) call.write(f);
  // A cut stream is cut once rank 1 has taken it (the hello was accepted): the case is about
  // a neighbour that goes away mid-collective, not one that never arrived.
  if (ending !== 'wait') void helloAccepted.then(() => (ending === 'end' ? call.end() : call.cancel()));
  return { done: done.finally(() => client.close()), stop: () => call.cancel() };
}

export async function runRingChunks(tally: Tally, seed: number): Promise<void> {
  const h = new Hostile(seed);
  const base = await startServers(2);
  const health = new Map<string, RpcClient>();
  let generation = 10;
  const input = Float32Array.from({ length: ELEMENTS }, (_, i) => i + 1);
  try {
    const hello = (g: number) => ({ hello: { runId: RUN, generation: g, fromRank: 0, size: 2 } });
    // The first chunk rank 1 expects from rank 0 (reduce-scatter ring step 0, segment 0, chunk 0).
    const valid = (g: number): RingChunk => ({
      id: { runId: RUN, generation: g, step: 0, sequence: 0 }, phase: 'REDUCE_SCATTER', ringStep: 0, segment: 0, chunk: 0,
      elements: ELEMENTS, chunkElements: CHUNK_BYTES / 4, data: Buffer.from(Float32Array.of(1, 2).buffer),
    });
    const cases: CaseSpec[] = [];
    /** A case: the hello, then `after` (frames), then the ending. */
    const c = (what: string, after: (g: number) => RingFrame[], expect: readonly string[], names?: RegExp, ending: Ending = 'wait'): void => {
      cases.push({ name: `Ring chunk: ${what}`, expect, names, send: () => attempt((g) => [hello(g), ...after(g)], ending) });
    };
    const chunks = (f: (g: number) => RingChunk[]) => (g: number): RingFrame[] => f(g).map((chunk) => ({ chunk }));
    const edit = (what: string, change: (x: RingChunk, g: number) => RingChunk, names: RegExp): void => {
      c(what, chunks((g) => [change(valid(g), g)]), ['refused'], names);
    };
    const id = (x: RingChunk) => x.id as { runId: string; generation: number; step: number; sequence: number };
    for (const [what, v] of [['another run', 'run-b'], ['an empty run id', ''], ['a 100,000-character run id', 'r'.repeat(100_000)]] as const) {
      edit(`run id of ${what}`, (x) => ({ ...x, id: { ...id(x), runId: v } }), /chunk\.id\.run_id/);
    }
    for (const [what, d] of [['older (g - 1)', -1], ['newer (g + 1)', 1], ['g + 2^31', 2 ** 31]] as const) {
      edit(`generation ${what}`, (x, g) => ({ ...x, id: { ...id(x), generation: g + d } }), /chunk\.id\.generation/);
    }
    edit('generation 0', (x) => ({ ...x, id: { ...id(x), generation: 0 } }), /chunk\.id\.generation/);
    for (const s of [1, 2, 7, 2 ** 31, 2 ** 40]) edit(`step ${s} (rank 1 runs step 0)`, (x) => ({ ...x, id: { ...id(x), step: s } }), /chunk\.id\.step/);
    for (const s of [1, 2, 9, 2 ** 31]) edit(`sequence ${s} (a future collective)`, (x) => ({ ...x, id: { ...id(x), sequence: s } }), /chunk\.id\.sequence/);
    edit('no id', (x) => ({ ...x, id: null }), /chunk\.id/);
    for (const e of [0, 4, 7, 9, 16, 2 ** 31]) edit(`elements ${e} (the plan has ${ELEMENTS})`, (x) => ({ ...x, elements: e }), /chunk\.elements/);
    for (const e of [0, 1, 3, 8, 2 ** 31]) edit(`chunk_elements ${e} (the plan has 2)`, (x) => ({ ...x, chunkElements: e }), /chunk\.chunk_elements/);
    edit('phase 99 (unknown)', (x) => ({ ...x, phase: 99 as unknown as RingChunk['phase'] }), /chunk\.phase/);
    edit('all-gather before any reduce-scatter (segment 0)', (x) => ({ ...x, phase: 'ALL_GATHER' }), /chunk\.segment/);
    for (const s of [1, 2, 2 ** 31]) edit(`ring step ${s} (a 2-rank ring has 0)`, (x) => ({ ...x, ringStep: s }), /chunk\.ring_step/);
    for (const s of [1, 2, 2 ** 31]) edit(`segment ${s} (rank 1 receives 0)`, (x) => ({ ...x, segment: s }), /chunk\.segment/);
    for (const k of [2, 3, 2 ** 31]) edit(`chunk ${k} (segment 0 has 2)`, (x) => ({ ...x, chunk: k }), /chunk\.chunk/);
    for (const n of [0, 4, 7, 12, 16, 1 << 20]) edit(`data of ${n} bytes (8 expected)`, (x) => ({ ...x, data: Buffer.alloc(n) }), /chunk\.data/);
    for (let i = 0; i < 4; i++) {
      const n = h.int(1, 64) * 4 + 8;
      edit(`data of ${n} random bytes #${i}`, (x) => ({ ...x, data: h.bytes(n) }), /chunk\.data/);
    }
    c('a chunk twice', chunks((g) => [valid(g), valid(g)]), ['refused'], /chunk\.chunk/);
    c('a second hello after the first', (g) => [hello(g)], ['refused'], /frame/);
    c('an empty frame', () => [{}], ['refused'], /frame/);
    // Oversized: larger than the data plane's message limit; the transport refuses it, and rank 1
    // loses its left neighbour's stream (or refuses the layout, if the frame fits).
    c('data of 80 MiB (past the message limit)', chunks((g) => [{ ...valid(g), data: Buffer.alloc(80 << 20) }]), ['refused', 'peer_gone'], /chunk\.data|left neighbour/);
    // The left neighbour goes away mid-collective: rank 1 fails at once, naming it (no hang).
    c('stream ended after the hello', () => [], ['peer_gone'], /left neighbour/, 'end');
    c('stream cancelled after the hello', () => [], ['peer_gone'], /left neighbour/, 'cancel');
    c('stream ended after one good chunk', chunks((g) => [valid(g)]), ['peer_gone'], /left neighbour/, 'end');
    c('stream cancelled after one good chunk', chunks((g) => [valid(g)]), ['peer_gone'], /left neighbour/, 'cancel');

    async function attempt(frames: (g: number) => RingFrame[], ending: Ending): Promise<Answer> {
      const g = ++generation;
      const sink = new CreditSink(g);
      base.endpoints[0].attach(sink);
      const target = new RingGroup({ runId: RUN, generation: g, rank: 1, size: 2, addresses: base.addresses, endpoint: base.endpoints[1], chunkBytes: CHUNK_BYTES, timeouts: TIMEOUTS });
      const outcome = target.allReduceSum(0, input).then(() => undefined, (e: unknown) => e);
      const left = playLeft(base.addresses[1], frames(g), ending);
      try {
        const err = await outcome;
        if (err === undefined) return {};
        if (!(err instanceof CollectiveError)) return { kind: `threw ${(err as Error).name}`, message: (err as Error).message };
        return { kind: err.kind, message: err.message };
      } finally {
        await target.close();
        left.stop();
        await left.done;
        sink.close();
        base.endpoints[0].detach(sink);
      }
    }

    await tally.runAll('grpc collective ring chunks (an accepted left neighbour)', {
      // The ring's state, as what it computes: a fresh generation of two real ranks sums exactly.
      stateHash: async () => {
        const g = ++generation;
        const groups = makeGroups(base, { generation: g, chunkBytes: CHUNK_BYTES });
        try {
          const b = Float32Array.from(input, (v) => -2 * v);
          const [s0, s1] = await Promise.all([groups[0].allReduceSum(0, input), groups[1].allReduceSum(0, b)]);
          const ok = s0.every((v, i) => v === input[i] + b[i]) && s1.every((v, i) => v === s0[i]);
          return ok ? 'sums exactly' : `wrong sum: ${Array.from(s0.slice(0, 4)).join(', ')}`;
        } finally {
          await Promise.all(groups.map((x) => x.close()));
        }
      },
      health: () => servingHealth(base.addresses.map((addr) => [addr, COLLECTIVE_SERVICE]), health),
    }, cases, 8);
  } finally {
    for (const cl of health.values()) cl.close();
    await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
  }
}
