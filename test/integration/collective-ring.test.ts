// Ring all-reduce invariants on real gRPC servers (N ranks in this process): N equal buffers sum
// to N x buffer and average to the buffer; random buffers match a float64 reference within float32
// round-off; every rank gets the same bits; awkward lengths and pipelined small chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixedOrderReference, makeGroups, randomBuffer, startRing, startServers, streamsDrained } from './collective-fixtures.ts';
import { CollectiveConfigError, RingGroup } from '../../services/collective/index.ts';
import { createWorkerMetrics } from '../../services/telemetry/worker-metrics.ts';

function assertBitIdentical(outs: Float32Array[]): void {
  const first = Buffer.from(outs[0].buffer, outs[0].byteOffset, outs[0].byteLength);
  for (let r = 1; r < outs.length; r++) {
    assert.ok(first.equals(Buffer.from(outs[r].buffer, outs[r].byteOffset, outs[r].byteLength)), `rank ${r} differs from rank 0`);
  }
}

test('N = 1 returns a copy without any network', async () => {
  const group = new RingGroup({ runId: 'run-a', generation: 0, rank: 0, size: 1, addresses: ['127.0.0.1:1'] });
  const buf = Float32Array.from([1.5, -2, 3]);
  const sum = await group.allReduceSum(0, buf);
  const mean = await group.allReduceMean(0, buf);
  assert.deepEqual([...sum], [1.5, -2, 3]);
  assert.deepEqual([...mean], [1.5, -2, 3]);
  assert.notEqual(sum.buffer, buf.buffer);
  await group.close();
});

for (const size of [2, 3, 4]) {
  test(`N = ${size}: equal buffers sum to N x buffer and average to the buffer, exactly, on every rank`, async () => {
    const ring = await startRing(size, { chunkBytes: 256 });
    try {
      // Multiples of 1/8 below 2^10: N x v and N x v / N are exact in float32.
      const buf = Float32Array.from({ length: 1000 }, (_, i) => ((i * 37) % 4096) / 8 - 256);
      const sums = await Promise.all(ring.groups.map((g) => g.allReduceSum(3, buf)));
      for (const out of sums) assert.deepEqual([...out], [...buf].map((v) => v * size));
      const means = await Promise.all(ring.groups.map((g) => g.allReduceMean(3, buf)));
      for (const out of means) assert.deepEqual([...out], [...buf]);
      assertBitIdentical(means);
    } finally {
      await ring.stop();
    }
  });
}

test('random buffers of awkward lengths match a float64 reference; every rank is bit-identical; inputs untouched', async () => {
  const size = 3;
  const ring = await startRing(size, { chunkBytes: 64 }); // 16 values per chunk
  try {
    let step = 0;
    for (const length of [0, 1, size - 1, size, 1001, 4099]) {
      const inputs = ring.groups.map((_, r) => randomBuffer(length, 17 * length + r));
      const copies = inputs.map((b) => Float32Array.from(b));
      const [sums, means] = [
        await Promise.all(ring.groups.map((g, r) => g.allReduceSum(step, inputs[r]))),
        await Promise.all(ring.groups.map((g, r) => g.allReduceMean(step, inputs[r]))),
      ];
      step++;
      for (const out of [...sums, ...means]) assert.equal(out.length, length);
      assertBitIdentical(sums);
      assertBitIdentical(means);
      // Bit for bit the ring's fixed summation order (ring-plan.ts), whatever the chunking and transport.
      assertBitIdentical([sums[0], fixedOrderReference(copies, false)]);
      assertBitIdentical([means[0], fixedOrderReference(copies, true)]);
      for (let i = 0; i < length; i++) {
        const ref = inputs.reduce((acc, b) => acc + b[i], 0); // float64
        // Each partial sum rounds once: |error| <= (N - 1) * 2^-24 * sum of |x|.
        const bound = (size - 1) * 2 ** -24 * inputs.reduce((acc, b) => acc + Math.abs(b[i]), 0) + 1e-30;
        assert.ok(Math.abs(sums[0][i] - ref) <= bound, `length ${length} [${i}]: sum ${sums[0][i]} vs ${ref}`);
        assert.ok(Math.abs(means[0][i] - ref / size) <= bound / size + 2 ** -24 * Math.abs(ref / size), `mean [${i}]`);
      }
      inputs.forEach((b, r) => assert.deepEqual(b, copies[r], `rank ${r}'s input was modified`));
    }
  } finally {
    await ring.stop();
  }
});

test('several MB with 4 KiB chunks and a window of 2 (deep pipelining), repeated collectives in one step', async () => {
  const size = 4;
  const ring = await startRing(size, { chunkBytes: 4096, maxChunksInFlight: 2 });
  try {
    const length = 3 * 1024 * 1024 / 4 + 5; // 3 MiB + 20 bytes
    const inputs = ring.groups.map((_, r) => randomBuffer(length, r + 1));
    for (let repeat = 0; repeat < 2; repeat++) {
      // Ranks start at different times: early chunks of the next collective wait for their rank.
      const outs = await Promise.all(ring.groups.map(async (g, r) => {
        await new Promise((res) => setTimeout(res, 30 * r * repeat));
        return g.allReduceSum(7, inputs[r]);
      }));
      assertBitIdentical(outs);
      for (const i of [0, 1, length >> 1, length - 1]) {
        const ref = inputs.reduce((acc, b) => acc + b[i], 0);
        assert.ok(Math.abs(outs[0][i] - ref) <= 4e-7 * 4, `[${i}] ${outs[0][i]} vs ${ref}`);
      }
    }
  } finally {
    await ring.stop();
  }
  assert.deepEqual(await streamsDrained(ring.endpoints), [0, 0, 0, 0]);
});

test('bad options and arguments are refused with the field and the bound', async () => {
  const base = { runId: 'r', generation: 0, rank: 0, size: 1, addresses: ['a:1'] };
  const field = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof CollectiveConfigError, String(err));
      return err.field;
    }
    return 'no error';
  };
  assert.equal(field(() => new RingGroup({ ...base, chunkBytes: 1022 })), 'chunkBytes');
  assert.equal(field(() => new RingGroup({ ...base, rank: 1 })), 'rank');
  assert.equal(field(() => new RingGroup({ ...base, addresses: [] })), 'addresses');
  assert.equal(field(() => new RingGroup({ ...base, size: 2, addresses: ['a:1', 'b:2'] })), 'endpoint');
  assert.equal(field(() => new RingGroup({ ...base, maxChunksInFlight: 0 })), 'maxChunksInFlight');
  const group = new RingGroup(base);
  await assert.rejects(group.allReduceSum(-1, new Float32Array(1)), (e: CollectiveConfigError) => e.field === 'step');
  await assert.rejects(group.allReduceSum(0, [1, 2] as unknown as Float32Array), (e: CollectiveConfigError) => e.field === 'buf');
});

test('in place: the result is written into the given buffer, with the same bits as the copying call', async () => {
  const size = 3;
  const ring = await startRing(size, { chunkBytes: 128 });
  try {
    const inputs = ring.groups.map((_, r) => randomBuffer(1001, 40 + r));
    const copies = await Promise.all(ring.groups.map((g, r) => g.allReduceMean(0, inputs[r])));
    const bufs = inputs.map((b) => Float32Array.from(b));
    const inPlace = await Promise.all(ring.groups.map((g, r) => g.allReduceMean(0, bufs[r], { inPlace: true })));
    inPlace.forEach((out, r) => assert.equal(out, bufs[r], 'the same array is returned'));
    assertBitIdentical([...copies, ...inPlace]);
  } finally {
    await ring.stop();
  }
});

test('a rank still connecting when its left neighbour\'s chunks arrive takes them; a second concurrent call is refused', async () => {
  const base = await startServers(2);
  const g1 = new RingGroup({ runId: 'run-a', generation: 1, rank: 1, size: 2, addresses: base.addresses, endpoint: base.endpoints[1], chunkBytes: 64 });
  let g0: RingGroup | undefined;
  try {
    const buf = randomBuffer(3000, 9);
    // Rank 1's hello is held by rank 0's endpoint until rank 0's group exists.
    const r1 = g1.allReduceSum(0, buf);
    await assert.rejects(g1.allReduceSum(0, buf), (e: CollectiveConfigError) => e.field === 'allReduce');
    await new Promise((r) => setTimeout(r, 100));
    g0 = new RingGroup({ runId: 'run-a', generation: 1, rank: 0, size: 2, addresses: base.addresses, endpoint: base.endpoints[0], chunkBytes: 64 });
    const [a, b] = await Promise.all([g0.allReduceSum(0, buf), r1]);
    assertBitIdentical([a, b]);
    assert.equal(a[5], buf[5] * 2);
  } finally {
    await Promise.all([g0?.close(), g1.close()]);
    await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
  }
});

test('metrics: one allreduce observed per call, payload bytes sent counted (the workers contract)', async () => {
  const metrics = createWorkerMetrics(0);
  const base = await startServers(2);
  const [a, b] = [0, 1].map((rank) => new RingGroup({ runId: 'run-b', generation: 1, rank, size: 2, addresses: base.addresses,
    endpoint: base.endpoints[rank], ...(rank === 0 ? { metrics } : {}) }));
  try {
    const buf = randomBuffer(1000, 3); // 4000 bytes: rank 0 sends 2000 in reduce-scatter and 2000 in all-gather
    await Promise.all([a.allReduceMean(0, buf), b.allReduceMean(0, buf)]);
    const bytes = await metrics.registry.getSingleMetric('gantry_collective_bytes_total')!.get();
    assert.equal(bytes.values.find((v) => v.labels.op === 'allreduce')?.value, 4000);
    const text = await metrics.registry.metrics();
    assert.match(text, /gantry_collective_duration_seconds_count\{[^}]*op="allreduce"[^}]*\} 1\n/);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
  }
});

test('all-gather: rank r\'s block r reaches every rank bit for bit, N = 2..4, in a ring shared with all-reduces; half the bytes of an all-reduce', async () => {
  for (const size of [2, 3, 4]) {
    const metrics = createWorkerMetrics(0); // shared by the ranks: counts the bytes of all of them
    const base = await startServers(size);
    const groups = makeGroups(base, { runId: 'run-g', chunkBytes: 64, metrics }); // 16 values per chunk: blocks span several chunks
    try {
      const block = 250;
      const want = randomBuffer(size * block, 11 * size);
      // Rank r knows its block only; NaN elsewhere must all be overwritten.
      const inputs = groups.map((_, r) => {
        const b = new Float32Array(size * block).fill(NaN);
        b.set(want.subarray(r * block, (r + 1) * block), r * block);
        return b;
      });
      const outs = await Promise.all(groups.map((g, r) => g.allGather(0, inputs[r])));
      outs.forEach((out, r) => {
        assert.equal(out, inputs[r], 'in place');
        assert.ok(Buffer.from(out.buffer).equals(Buffer.from(want.buffer)), `N ${size}: rank ${r} holds every block`);
      });
      // The same group goes on with an all-reduce (sequence numbers are shared by both kinds).
      const sums = await Promise.all(groups.map((g) => g.allReduceSum(0, want)));
      assertBitIdentical(sums);
      const bytes = (await metrics.registry.getSingleMetric('gantry_collective_bytes_total')!.get()).values;
      const of = (op: string) => bytes.find((v) => v.labels.op === op)?.value;
      assert.equal(of('all_gather'), size * (size - 1) * block * 4, `N ${size}: each rank forwards N - 1 blocks`);
      assert.equal(of('allreduce'), 2 * size * (size - 1) * block * 4, `N ${size}: an all-reduce sends twice that`);
    } finally {
      await Promise.all(groups.map((g) => g.close()));
      await Promise.all(base.servers.map((s) => s.shutdown({ graceMs: 200 })));
    }
  }
});
