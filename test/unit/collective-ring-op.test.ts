// The ring all-reduce state machine without any network: N RingOps pass their chunks by hand (in
// a shuffled but per-edge-ordered way), and every position check refuses what the ring does not
// expect before touching a value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingOp, type Outgoing, type RingReduce } from '../../services/collective/ring-op.ts';
import { RingPlan } from '../../services/collective/ring-plan.ts';
import { CollectiveRefusedError } from '../../services/wire/errors.ts';
import { fixedOrderReference } from '../integration/collective-fixtures.ts';
import type { RingChunk__Output } from '../../services/wire/generated/gantry/v1/RingChunk.ts';

const ID = { runId: 'run-a', generation: 2, step: 9, sequence: 0 };

function toChunk(op: RingOp, o: Outgoing): RingChunk__Output {
  // An odd byte offset on purpose: received bytes are rarely 4-aligned.
  const bytes = Buffer.alloc((o.end - o.start) * 4 + 1).subarray(1);
  Buffer.from(op.out.buffer, o.start * 4, bytes.length).copy(bytes);
  return { id: { ...ID }, phase: o.phase, ringStep: o.ringStep, segment: o.segment, chunk: o.chunk,
    elements: op.plan.elements, chunkElements: op.plan.chunkElements, data: bytes, pad: Buffer.alloc(0) };
}

/** Runs a whole all-reduce in memory; `pick` chooses which edge delivers next (FIFO per edge). */
function simulate(inputs: Float32Array[], chunkElements: number, mean: boolean | 'gather', pick: (n: number) => number): Float32Array[] {
  const size = inputs.length;
  const plan = new RingPlan(inputs[0].length, size, chunkElements);
  const reduce: RingReduce = mean === 'gather' ? 'gather' : mean ? 'mean' : 'sum';
  const ops = inputs.map((b, r) => new RingOp(plan, r, ID, b, reduce));
  const edges: RingChunk__Output[][] = ops.map(() => []); // edges[r]: chunks on their way to rank r
  ops.forEach((op, r) => edges[(r + 1) % size].push(...op.start().map((o) => toChunk(op, o))));
  for (;;) {
    const busy = edges.map((e, r) => (e.length ? r : -1)).filter((r) => r >= 0);
    if (!busy.length) break;
    const r = busy[pick(busy.length)];
    const sends = ops[r].receive(edges[r].shift()!);
    edges[(r + 1) % size].push(...sends.map((o) => toChunk(ops[r], o)));
  }
  for (const op of ops) assert.ok(op.done, `rank ${op.rank} received every chunk`);
  return ops.map((op) => op.out);
}

test('every N from 1 to 5 and every awkward length: the sum within float32 round-off, bit-identical ranks', () => {
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const size of [1, 2, 3, 4, 5]) {
    for (const length of [0, 1, size - 1, size + 1, 97]) {
      for (const chunk of [1, 3, 64]) {
        const inputs = Array.from({ length: size }, () => Float32Array.from({ length }, () => rand() * 2 - 1));
        const outs = simulate(inputs, chunk, false, (n) => Math.floor(rand() * n));
        for (let i = 0; i < length; i++) {
          const ref = inputs.reduce((a, b) => a + b[i], 0);
          assert.ok(Math.abs(outs[0][i] - ref) <= size * 2 ** -24 * size, `N ${size} L ${length} C ${chunk} [${i}]`);
          for (const o of outs) assert.ok(Object.is(o[i], outs[0][i]));
        }
      }
    }
  }
});

test('the mean of equal buffers is the buffer; the sum order is fixed whatever the delivery order', () => {
  const buf = Float32Array.from({ length: 50 }, (_, i) => i / 4 - 3);
  const means = simulate([buf, buf, buf, buf], 4, true, () => 0);
  assert.deepEqual([...means[2]], [...buf]);
  const inputs = [0, 1, 2].map((r) => Float32Array.from({ length: 40 }, (_, i) => Math.sin(i * 7 + r) * 1e3));
  const a = simulate(inputs, 5, false, () => 0);
  const b = simulate(inputs, 5, false, (n) => n - 1);
  assert.ok(Buffer.from(a[0].buffer).equals(Buffer.from(b[1].buffer)));
});

test('N = 2, 3, 4: the sum and the mean equal, bit for bit, a reference summed in the ring\'s fixed order', () => {
  let seed = 99;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const size of [2, 3, 4]) {
    // Magnitudes over 12 binades, so that the order of the additions changes the rounding.
    const inputs = Array.from({ length: size }, () => Float32Array.from({ length: 203 }, () => (rand() - 0.5) * 2 ** Math.floor(rand() * 12)));
    for (const mean of [false, true]) {
      const want = fixedOrderReference(inputs, mean);
      for (const chunk of [1, 7, 64]) {
        const outs = simulate(inputs.map((b) => Float32Array.from(b)), chunk, mean, (n) => Math.floor(rand() * n));
        for (const [r, out] of outs.entries()) {
          assert.ok(Buffer.from(out.buffer).equals(Buffer.from(want.buffer)), `N ${size} mean ${mean} chunk ${chunk} rank ${r}`);
        }
      }
    }
    if (size === 2) continue; // a + b === b + a: two terms have one order
    // The order matters for these inputs: a plain rank-order sum differs somewhere.
    const rankOrder = inputs[0].map((_, i) => inputs.slice(1).reduce((a, b) => Math.fround(a + b[i]), inputs[0][i]));
    assert.ok(!Buffer.from(rankOrder.buffer).equals(Buffer.from(fixedOrderReference(inputs, false).buffer)), `N ${size}: inputs too tame`);
  }
});

test('a chunk the ring does not expect is refused before any value changes', () => {
  const plan = new RingPlan(10, 3, 2);
  const fresh = () => new RingOp(plan, 1, ID, new Float32Array(10).fill(1), 'sum');
  // Rank 1 first expects reduce-scatter ring step 0, segment 0 (from rank 0).
  const good = (): RingChunk__Output => ({ id: { ...ID }, phase: 'REDUCE_SCATTER', ringStep: 0, segment: 0, chunk: 0,
    elements: 10, chunkElements: 2, data: Buffer.from(Float32Array.of(5, 5).buffer), pad: Buffer.alloc(0) });
  const refusedField = (mutate: (c: RingChunk__Output) => void, op = fresh()): string => {
    const c = good();
    mutate(c);
    const before = Float32Array.from(op.out);
    try {
      op.receive(c);
    } catch (err) {
      assert.ok(err instanceof CollectiveRefusedError, String(err));
      assert.deepEqual(op.out, before, 'nothing was summed');
      return err.field;
    }
    return 'accepted';
  };
  assert.equal(refusedField(() => undefined), 'accepted');
  assert.equal(refusedField((c) => { c.id!.step = 8; }), 'chunk.id.step');
  assert.equal(refusedField((c) => { c.id!.generation = 1; }), 'chunk.id.generation');
  assert.equal(refusedField((c) => { c.id!.runId = 'run-b'; }), 'chunk.id.run_id');
  assert.equal(refusedField((c) => { c.id!.sequence = 1; }), 'chunk.id.sequence');
  assert.equal(refusedField((c) => { c.segment = 2; }), 'chunk.segment');
  assert.equal(refusedField((c) => { c.ringStep = 2; }), 'chunk.ring_step');
  assert.equal(refusedField((c) => { c.chunk = 2; }), 'chunk.chunk');
  assert.equal(refusedField((c) => { c.elements = 11; }), 'chunk.elements');
  assert.equal(refusedField((c) => { c.chunkElements = 3; }), 'chunk.chunk_elements');
  assert.equal(refusedField((c) => { c.data = Buffer.alloc(4); }), 'chunk.data');
  const op = fresh();
  op.receive(good());
  assert.equal(refusedField(() => undefined, op), 'chunk.chunk', 'a duplicate is refused');
});

test('all-gather: every rank ends with every rank\'s segment r, bit for bit, for every N, length and delivery order', () => {
  let seed = 5;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const size of [1, 2, 3, 4, 5]) {
    for (const length of [0, 1, size - 1, size + 1, 6 * size, 97]) {
      const plan = new RingPlan(length, size, 1);
      const want = Float32Array.from({ length }, () => (rand() - 0.5) * 2 ** Math.floor(rand() * 20));
      for (const chunk of [1, 3, 64]) {
        // Rank r knows only its segment; the rest is garbage that must be overwritten.
        const inputs = Array.from({ length: size }, (_, r) => {
          const b = Float32Array.from({ length }, () => NaN);
          const [from, to] = [plan.segmentStart(r), plan.segmentStart(r + 1)];
          b.set(want.subarray(from, to), from);
          return b;
        });
        const outs = simulate(inputs, chunk, 'gather', (n) => Math.floor(rand() * n));
        for (const [r, out] of outs.entries()) {
          assert.ok(Buffer.from(out.buffer).equals(Buffer.from(want.buffer)), `N ${size} L ${length} C ${chunk} rank ${r}`);
        }
      }
    }
  }
});

test('all-gather: a rank receives (N-1)/N of the buffer, no reduce-scatter chunk is accepted, and positions are checked', () => {
  const plan = new RingPlan(12, 3, 2);
  assert.equal(plan.receives(1, 'GATHER'), 4, 'two segments of 4 values in chunks of 2');
  const op = (): RingOp => new RingOp(plan, 1, ID, new Float32Array(12), 'gather');
  assert.deepEqual(op().start().map((o) => [o.phase, o.ringStep, o.segment]), [['ALL_GATHER', 0, 1], ['ALL_GATHER', 0, 1]], 'rank 1 starts with its own segment 1');
  const chunk = (phase: 'REDUCE_SCATTER' | 'ALL_GATHER', segment: number): RingChunk__Output => ({ id: { ...ID }, phase, ringStep: 0, segment, chunk: 0,
    elements: 12, chunkElements: 2, data: Buffer.from(Float32Array.of(5, 5).buffer), pad: Buffer.alloc(0) });
  const field = (c: RingChunk__Output): string => {
    try {
      op().receive(c);
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof CollectiveRefusedError);
      return err.field;
    }
  };
  assert.equal(field(chunk('ALL_GATHER', 0)), 'accepted', 'ring step 0 brings the left neighbour\'s segment 0');
  assert.equal(field(chunk('REDUCE_SCATTER', 0)), 'chunk.phase');
  assert.equal(field(chunk('ALL_GATHER', 2)), 'chunk.segment');
  const o = op();
  assert.deepEqual(o.receive(chunk('ALL_GATHER', 0)).map((x) => [x.phase, x.ringStep, x.segment]), [['ALL_GATHER', 1, 0]], 'forwarded at ring step 1');
  assert.deepEqual([...o.out.subarray(0, 2)], [5, 5]);
});
