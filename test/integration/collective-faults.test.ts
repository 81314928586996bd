// Ring faults on real gRPC: messages of another run, an older generation or another step are
// refused (never summed) with typed errors; a rank that closes mid-collective or stalls makes the
// others fail with a CollectiveError naming the peer and the phase; no stream outlives its group.
import { test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { makeGroups, randomBuffer, startRing, startServers, streamsDrained } from './collective-fixtures.ts';
import { CollectiveError, RingGroup } from '../../services/collective/index.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { COLLECTIVE_SERVICE } from '../../services/wire/proto.ts';
import type { RingFrame } from '../../services/wire/generated/gantry/v1/RingFrame.ts';
import type { RingAck__Output } from '../../services/wire/generated/gantry/v1/RingAck.ts';

/** A hand-driven Ring stream: the frames it is told to send, and how the receiver ended it. */
function rawStream(address: string, frames: RingFrame[]): Promise<{ acks: RingAck__Output[]; error?: PeerError }> {
  const client = new RpcClient(address, COLLECTIVE_SERVICE);
  const { call, toError } = client.duplex<RingFrame, RingAck__Output>('Ring', 10_000);
  const acks: RingAck__Output[] = [];
  call.on('data', (a: RingAck__Output) => acks.push(a));
  for (const f of frames) call.write(f);
  return new Promise((resolve) => {
    call.on('error', (err: grpc.ServiceError) => { client.close(); resolve({ acks, error: toError(err) }); });
    call.on('end', () => { client.close(); resolve({ acks }); });
  });
}

const expectCollectiveError = (fields: Partial<CollectiveError>) => (err: unknown): boolean => {
  assert.ok(err instanceof CollectiveError, `expected a CollectiveError, got ${String(err)}`);
  for (const [k, v] of Object.entries(fields)) assert.equal(err[k as keyof CollectiveError], v, `${k} of ${err.message}`);
  return true;
};

test('a hello of another run or an older generation is refused with FAILED_PRECONDITION naming the field', async () => {
  const base = await startServers(2);
  const [g0, g1] = makeGroups(base, { generation: 5 });
  try {
    const foreign = await rawStream(base.addresses[1], [{ hello: { runId: 'run-b', generation: 5, fromRank: 0, size: 2 } }]);
    assert.ok(foreign.error instanceof PeerError);
    assert.equal(foreign.error.codeName, 'FAILED_PRECONDITION');
    assert.equal(foreign.error.remoteName, 'CollectiveRefusedError');
    assert.equal(foreign.error.field, 'hello.run_id');
    const stale = await rawStream(base.addresses[1], [{ hello: { runId: 'run-a', generation: 4, fromRank: 0, size: 2 } }]);
    assert.equal(stale.error?.field, 'hello.generation');
    const wrongRank = await rawStream(base.addresses[1], [{ hello: { runId: 'run-a', generation: 5, fromRank: 1, size: 2 } }]);
    assert.equal(wrongRank.error?.field, 'hello.from_rank');
    // A whole group of an older generation cannot join: connect() fails, naming the right neighbour.
    const old = new RingGroup({ runId: 'run-a', generation: 4, rank: 0, size: 2, addresses: base.addresses,
      endpoint: new (base.endpoints[0].constructor as typeof import('../../services/collective/index.ts').CollectiveEndpoint)() });
    await assert.rejects(old.connect(), expectCollectiveError({ kind: 'refused', phase: 'connect', peerRank: 1, refusal: 'hello.generation' }));
    await old.close();
    // The real ring of generation 5 still works.
    const outs = await Promise.all([g0.allReduceSum(0, Float32Array.of(1, 2)), g1.allReduceSum(0, Float32Array.of(3, 4))]);
    assert.deepEqual([...outs[0]], [4, 6]);
  } finally {
    await Promise.all([g0.close(), g1.close()]);
    await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
  }
});

test('a chunk of another generation on an accepted stream is refused, not summed, and breaks the group', async () => {
  const base = await startServers(2);
  const g1 = makeGroups(base)[1]; // rank 1 of generation 1; rank 0 is played by hand below
  try {
    const data = Buffer.from(Float32Array.of(100).buffer);
    const chunk = { id: { runId: 'run-a', generation: 0, step: 0, sequence: 0 }, phase: 'REDUCE_SCATTER' as const,
      ringStep: 0, segment: 0, chunk: 0, elements: 2, chunkElements: 1, data };
    const sent = await rawStream(base.addresses[1], [{ hello: { runId: 'run-a', generation: 1, fromRank: 0, size: 2 } }, { chunk }]);
    assert.equal(sent.acks[0]?.helloAccepted, true, 'the hello was accepted');
    assert.equal(sent.acks.filter((a) => a.consumed > 0).length, 0, 'the chunk was never consumed');
    assert.equal(sent.error?.remoteName, 'CollectiveRefusedError');
    assert.equal(sent.error?.field, 'chunk.id.generation');
    await assert.rejects(g1.allReduceSum(0, Float32Array.of(1, 2)), (err: unknown) => {
      expectCollectiveError({ kind: 'broken', rank: 1 })(err);
      const cause = (err as CollectiveError).cause;
      return expectCollectiveError({ kind: 'refused', refusal: 'chunk.id.generation', peerRank: 0 })(cause);
    });
  } finally {
    await g1.close();
    await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
  }
});

test('ranks that disagree on the step refuse each other\'s chunks: every rank fails, none returns a sum', async () => {
  const ring = await startRing(2);
  try {
    const results = await Promise.allSettled([
      ring.groups[0].allReduceSum(5, Float32Array.of(1, 2, 3)),
      ring.groups[1].allReduceSum(6, Float32Array.of(1, 2, 3)),
    ]);
    for (const r of results) assert.equal(r.status, 'rejected');
    const errors = results.map((r) => (r as PromiseRejectedResult).reason as CollectiveError);
    for (const e of errors) assert.ok(e instanceof CollectiveError, String(e));
    assert.ok(errors.some((e) => e.kind === 'refused' && e.refusal === 'chunk.id.step'), errors.map((e) => e.message).join('\n'));
  } finally {
    await ring.stop();
  }
  assert.deepEqual(await streamsDrained(ring.endpoints), [0, 0]);
});

test('a rank closed mid-collective: the others fail with CollectiveError naming it, then nothing stays open', async () => {
  const ring = await startRing(3, { chunkBytes: 1024, timeouts: { collectiveMs: 60_000 } });
  try {
    const buf = randomBuffer(100_000, 1);
    const running = [ring.groups[0].allReduceSum(0, buf), ring.groups[1].allReduceSum(0, buf)];
    await new Promise((r) => setTimeout(r, 100)); // rank 2 never joins; ranks 0 and 1 are waiting on it
    await ring.groups[2].close();
    const [e0, e1] = await Promise.all(running.map((p) => p.then(() => undefined, (e: unknown) => e)));
    // Rank 0 receives from rank 2 (its left); rank 1 sends to rank 2 (its right).
    expectCollectiveError({ kind: 'peer_gone', rank: 0, peerRank: 2, phase: 'reduce_scatter' })(e0);
    expectCollectiveError({ kind: 'peer_gone', rank: 1, peerRank: 2 })(e1);
    await assert.rejects(ring.groups[0].allReduceSum(1, buf), expectCollectiveError({ kind: 'broken' }));
  } finally {
    await ring.stop();
  }
  assert.deepEqual(await streamsDrained(ring.endpoints), [0, 0, 0]);
});

test('a stalled rank: the first rank to time out names it and the phase, and the others fail with the same culprit', async () => {
  const ring = await startRing(3, { timeouts: { collectiveMs: 400 } });
  try {
    await Promise.all(ring.groups.map((g) => g.connect()));
    const buf = randomBuffer(1000, 2);
    // Rank 2 is connected but never calls: it stalls. Rank 0 calls first, so its deadline passes first.
    const e0 = ring.groups[0].allReduceSum(0, buf).then(() => undefined, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 150));
    const e1 = ring.groups[1].allReduceSum(0, buf).then(() => undefined, (e: unknown) => e);
    expectCollectiveError({ kind: 'timeout', rank: 0, peerRank: 2, reporterRank: 0, phase: 'reduce_scatter' })(await e0);
    // Rank 1 learns it from rank 0's RingAbort before its own deadline.
    expectCollectiveError({ kind: 'timeout', rank: 1, peerRank: 2, reporterRank: 0 })(await e1);
  } finally {
    await ring.stop();
  }
  assert.deepEqual(await streamsDrained(ring.endpoints), [0, 0, 0]);
});
