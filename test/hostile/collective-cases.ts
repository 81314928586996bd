// The data-parallel plane. Hostile first frames on CollectiveService/Ring (the data-parallel ring), against a real ring of
// two ranks in this process (CollectiveEndpoint + RingGroup on gRPC servers on port 0): malformed
// protobuf, a chunk or an abort before the hello, hellos of another run, an older generation, a
// wrong group size or sender rank. Only invalid frames are sent: a well-formed hello from the left
// neighbour's address is the business of mutual TLS (part 6). The state is the ring itself: a
// sum all-reduce across both ranks must still give the exact sum after every batch of cases.
import { COLLECTIVE_SERVICE, WORKER_SERVICE } from '../../services/wire/proto.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import { tf } from '../../services/core/tf.ts';
import { classifierTrainSchema, parseConfig } from '../../services/train/config.ts';
import { Replica } from '../../services/worker/replica.ts';
import { StepGate } from '../../services/wire/step-gate.ts';
import { WorkerGrpcService } from '../../services/worker/grpc-service.ts';
import { createServer } from '../../services/wire/server.ts';
import { snapshotToChunks } from '../../services/wire/weights-stream.ts';
import { snapshotHash } from '../harness/state-hash.ts';
import { startRing } from '../integration/collective-fixtures.ts';
import { encode, RawClient, rawMethod } from './raw-grpc.ts';
import { servingHealth } from './grpc-inprocess.ts';
import type { RpcClient } from '../../services/wire/client.ts';
import { type CaseSpec, Hostile, type Tally } from './tally.ts';

export async function runCollective(tally: Tally, seed: number): Promise<void> {
  const h = new Hostile(seed);
  // Generation 3, so older generations exist to be refused.
  const ring = await startRing(2, { runId: 'run-a', generation: 3 });
  const raw = new RawClient();
  const health = new Map<string, RpcClient>();
  const ringMethod = rawMethod(COLLECTIVE_SERVICE, 'Ring');
  let step = 0;
  try {
    const target = ring.addresses[0]; // rank 0: its left neighbour is rank 1
    const send = (frames: Buffer[]) => raw.call(target, ringMethod, frames, { cancelAfterMs: 300 });
    const frame = (f: object): Buffer => encode(ringMethod, f);
    const hello = { runId: 'run-a', generation: 3, fromRank: 1, size: 2 };
    const cases: CaseSpec[] = [];
    const c = (what: string, frames: () => Buffer[], expect: readonly string[], names?: RegExp): void => {
      cases.push({ name: `Ring: ${what}`, expect, names, send: () => send(frames()) });
    };
    const refused = ['FAILED_PRECONDITION', 'INVALID_ARGUMENT'];
    for (const [what, bytes] of [['wire type 7', Buffer.from([0x0f, 0x01])], ['unterminated varint', Buffer.from([0x08, 0xff, 0xff, 0xff])],
      ['length prefix 2^31', Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08])], ['hello cut short', frame({ hello }).subarray(0, 5)]] as const) {
      c(`first frame ${what}`, () => [bytes], ['INVALID_ARGUMENT'], /^request: /);
    }
    for (let i = 0; i < 8; i++) {
      const n = h.int(1, 64);
      const bytes = h.bytes(n);
      c(`first frame of ${n} random bytes #${i}`, () => [bytes], [...refused, 'CANCELLED']);
    }
    c('an empty first frame', () => [frame({})], refused, /hello/);
    c('a chunk before the hello', () => [frame({ chunk: { id: { runId: 'run-a', generation: 3, step: 0, sequence: 0 }, elements: 8, chunkElements: 4, data: Buffer.alloc(16) } })], refused, /hello/);
    c('an abort before the hello', () => [frame({ abort: { culpritRank: 0, kind: 'refused', reporterRank: 1, detail: 'x' } })], refused, /hello/);
    const hellos: [string, object, RegExp][] = [
      ['of another run', { ...hello, runId: 'run-b' }, /run_id/], ['of an empty run id', { ...hello, runId: '' }, /run_id/],
      ['of a 100,000-character run id', { ...hello, runId: 'r'.repeat(100_000) }, /run_id/], ['of generation 2 (older)', { ...hello, generation: 2 }, /generation/],
      ['of generation 0', { ...hello, generation: 0 }, /generation/], ['of size 3', { ...hello, size: 3 }, /size/], ['of size 0', { ...hello, size: 0 }, /size/],
      ['of size 2^32-1', { ...hello, size: 2 ** 32 - 1 }, /size/], ['from rank 0 (itself)', { ...hello, fromRank: 0 }, /from_rank/],
      ['from rank 7', { ...hello, fromRank: 7 }, /from_rank/], ['from rank 2^32-1', { ...hello, fromRank: 2 ** 32 - 1 }, /from_rank/],
    ];
    for (const [what, body, names] of hellos) {
      c(`hello ${what}`, () => [frame({ hello: body })], ['FAILED_PRECONDITION'], names);
      c(`hello ${what}, then chunks`, () => [frame({ hello: body }), frame({ chunk: { id: { runId: 'run-a', generation: 3, step: 9, sequence: 0 }, elements: 4, chunkElements: 4, data: Buffer.alloc(16) } })], ['FAILED_PRECONDITION'], names);
    }
    // A hello of a future generation is held until that generation attaches; the client gives up.
    c('hello of a future generation, abandoned', () => [frame({ hello: { ...hello, generation: 99 } })], ['CANCELLED']);

    const a = Float32Array.from({ length: 37 }, (_, i) => i * 0.5);
    const b = Float32Array.from({ length: 37 }, (_, i) => 1 - i);
    await tally.runAll('grpc collective ring (in-process ranks)', {
      // The ring's state, as what it computes: a fresh all-reduce gives the exact sum on both ranks.
      stateHash: async () => {
        const [s0, s1] = await Promise.all([ring.groups[0].allReduceSum(step, a), ring.groups[1].allReduceSum(step, b)]);
        step++;
        const ok = s0.every((v, i) => v === a[i] + b[i]) && s1.every((v, i) => v === s0[i]);
        return ok ? 'sums exactly' : `wrong sum: ${Array.from(s0.slice(0, 4)).join(', ')}`;
      },
      health: () => servingHealth(ring.addresses.map((addr) => [addr, COLLECTIVE_SERVICE]), health),
    }, cases, 5);
  } finally {
    raw.close();
    for (const cl of health.values()) cl.close();
    await ring.stop();
  }
}

/**
 * WorkerService (a data-parallel classifier replica) in this process: a real Replica of the quick
 * classifier behind a GantryServer. Malformed bytes on both methods, and LoadWeights streams that
 * are broken or do not fit the model; the state is the replica's weights, Adam state and step.
 */
export async function runWorker(tally: Tally, seed: number): Promise<void> {
  const h = new Hostile(seed);
  await tf.setBackend('cpu'); // exact and deterministic, as the gRPC fixtures
  const test = await loadImageSet({ split: 'test' });
  const cfg = parseConfig(classifierTrainSchema, { preset: 'quick', batchSize: 8, validationSize: 100, backend: 'cpu' }, 'hostile');
  const replica = new Replica(cfg, 'h'.repeat(64), { train: test, test });
  const server = createServer({ reflection: false });
  // Armed for progress no case sends: malformed streams reach the parser (INVALID_ARGUMENT) and a
  // well-formed snapshot of other progress is refused by the gate (FAILED_PRECONDITION).
  const gate = new StepGate('worker', 'LoadWeights');
  gate.arm({ generation: 1, iteration: replica.snapshot().lastApplied.iteration + 7, step: 0 });
  new WorkerGrpcService(replica, gate).addToServer(server);
  const address = `127.0.0.1:${await server.listen(0)}`;
  server.setServing(true);
  const raw = new RawClient();
  const health = new Map<string, RpcClient>();
  try {
    const load = rawMethod(WORKER_SERVICE, 'LoadWeights');
    const stream = rawMethod(WORKER_SERVICE, 'StreamWeights');
    const base = replica.snapshot();
    // Other values than the replica's, so a partial load would show.
    const bumped = { ...base, snapshot: { ...base.snapshot, tensors: base.snapshot.tensors.map((t) => ({ ...t, data: t.data.map((v) => v + 0.5) })) } };
    const chunks = [...snapshotToChunks(bumped, 1 << 16)];
    const cases: CaseSpec[] = [];
    const c = (what: string, mm: typeof load, frames: () => Buffer[], expect: readonly string[]): void => {
      cases.push({ name: `WorkerService/${mm.method}: ${what}`, expect, send: () => raw.call(address, mm, frames()) });
    };
    for (const mm of [load, stream]) {
      const ok = mm === stream ? ['INVALID_ARGUMENT', 'OK'] : ['INVALID_ARGUMENT'];
      for (const [what, bytes] of [['wire type 7', Buffer.from([0x0f])], ['unterminated varint', Buffer.from([0x08, 0xff, 0xff])], ['length prefix 2^31', Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08])]] as const) {
        c(what, mm, () => [bytes], ok);
      }
      for (let i = 0; i < 6; i++) { const b = h.bytes(h.int(1, 80)); c(`${b.length} random bytes #${i}`, mm, () => [b], ok); }
    }
    const enc = (x: object): Buffer => encode(load, x);
    const header = chunks[0].header!;
    const edits: [string, () => object[]][] = [
      ['an empty stream', () => []], ['no header', () => chunks.slice(1)], ['the role "generator"', () => [{ header: { ...header, role: 'generator' } }, ...chunks.slice(1)]],
      ['the last chunk lost', () => chunks.slice(0, -1)], ['a chunk twice', () => [...chunks.slice(0, 2), chunks[1], ...chunks.slice(2)]],
      ['NaN in the first tensor', () => chunks.map((x, i) => { if (i !== 1) return x; const d = Buffer.from(x.data as Buffer); d.writeFloatLE(Number.NaN, 0); return { ...x, data: d }; })],
      ['a tensor renamed', () => chunks.map((x, i) => (i === 1 ? { ...x, tensorName: `${x.tensorName}_x` } : x))],
      ['a shape [2^40]', () => chunks.map((x, i) => (i === 1 ? { ...x, shape: [2 ** 40] } : x))],
      ['total_bytes + 4', () => [{ header: { ...header, totalBytes: Number(header.totalBytes) + 4 } }, ...chunks.slice(1)]],
      ['another architecture', () => [{ header: { ...header, archJson: JSON.stringify({ kind: 'cnn', width: 3 }) } }, ...chunks.slice(1)]],
      ['an extra tensor', () => [{ header: { ...header, modelTensorCount: header.modelTensorCount! + 1, totalBytes: Number(header.totalBytes) + 8 } }, ...chunks.filter((x) => x.group !== 'OPTIMIZER_SLOT').slice(1), { tensorName: 'extra/kernel', group: 'MODEL', shape: [2], byteOffset: 0, data: Buffer.alloc(8) }, ...chunks.filter((x) => x.group === 'OPTIMIZER_SLOT')]],
    ];
    for (const [what, edit] of edits) c(what, load, () => edit().map(enc), ['INVALID_ARGUMENT', 'FAILED_PRECONDITION']);
    c('a well-formed snapshot the scheduler did not arm', load, () => chunks.map(enc), ['FAILED_PRECONDITION']);
    await tally.runAll('grpc worker service (in-process replica)', {
      stateHash: async () => { const s = replica.snapshot(); return snapshotHash(s.snapshot, s.lastApplied); },
      health: () => servingHealth([[address, WORKER_SERVICE]], health),
    }, cases);
  } finally {
    raw.close();
    for (const cl of health.values()) cl.close();
    await server.shutdown({ graceMs: 200 });
    replica.dispose();
  }
}
