// ModelSnapshot <-> WeightsChunk stream: exact round trips through protobuf bytes, chunk sizes,
// and a precise error for each broken layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunksToSnapshot, snapshotToChunks, type WeightsState } from '../../services/wire/weights-stream.ts';
import { RequestValidationError, TensorValidationError } from '../../services/wire/errors.ts';
import { SnapshotMismatchError } from '../../services/core/errors.ts';
import { GENERATOR_SERVICE, serviceDefinition } from '../../services/wire/proto.ts';
import type { WeightsChunk, WeightsChunk__Output } from '../../services/wire/generated/gantry/v1/WeightsChunk.ts';
import { mulberry32 } from '../../services/data/seed.ts';

const load = serviceDefinition(GENERATOR_SERVICE).LoadWeights;
const wire = (c: WeightsChunk): WeightsChunk__Output => load.requestDeserialize(load.requestSerialize(c)) as WeightsChunk__Output;

function tensor(name: string, shape: number[], seed: number) {
  const rand = mulberry32(seed);
  return { name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() - 0.5) };
}

function state(): WeightsState {
  const kernel = tensor('dense1/kernel', [300, 1000], 1); // 1.2 MB: spans two 1 MiB chunks
  const bias = tensor('dense1/bias', [1000], 2);
  const empty = tensor('empty/kernel', [0, 4], 3);
  return {
    snapshot: {
      role: 'generator',
      arch: { family: 'gan', preset: 'mlp', zDim: 8 },
      tensors: [kernel, bias, empty, tensor('bn/moving_mean', [1000], 4)],
      optimizer: {
        kind: 'adam', step: 17, hyper: { lr: 0.0002, beta1: 0.5 },
        slots: [kernel, bias, empty].flatMap((t, i) => [tensor(`${t.name}/m`, t.shape, 10 + i), tensor(`${t.name}/v`, t.shape, 20 + i)]),
      },
    },
    lastApplied: { iteration: 41, step: -1 },
  };
}

test('a snapshot streams in ~1 MiB chunks and comes back equal, header first', async () => {
  const s = state();
  const chunks = [...snapshotToChunks(s)].map(wire);
  assert.ok(chunks[0].header);
  assert.equal(chunks[0].header.optimizerStep, 17);
  assert.equal(chunks[0].header.totalBytes, 3 * (1_200_000 + 4000) + 4000); // params + bn, then m and v
  assert.ok(chunks.slice(1).every((c) => c.header === null && c.data.length <= 1 << 20));
  assert.deepEqual(chunks.filter((c) => c.tensorName === 'dense1/kernel').map((c) => [c.byteOffset, c.data.length]),
    [[0, 1 << 20], [1 << 20, 1_200_000 - (1 << 20)]]);
  const back = await chunksToSnapshot(chunks, 'generator');
  assert.deepEqual(back, s);
});

test('small chunk sizes and an async source give the same snapshot', async () => {
  const s = state();
  async function* slow() {
    for (const c of snapshotToChunks(s, 4096)) yield wire(c);
  }
  assert.deepEqual(await chunksToSnapshot(slow(), 'generator'), s);
});

async function rejectsWith(chunks: WeightsChunk[], cls: new (...a: never[]) => Error, message: string | RegExp): Promise<void> {
  await assert.rejects(chunksToSnapshot(chunks.map(wire), 'generator'), (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('broken layouts are rejected naming the chunk or tensor', async () => {
  const good = () => [...snapshotToChunks(state())];
  await rejectsWith(good().slice(1), RequestValidationError, 'chunk[0].header: expected a SnapshotHeader in the first chunk, found none');
  await rejectsWith([], RequestValidationError, 'chunk[0]: expected a header chunk, found an empty stream');
  const wrongRole = good();
  wrongRole[0] = { header: { ...wrongRole[0].header, role: 'discriminator' } };
  await rejectsWith(wrongRole, RequestValidationError, 'chunk[0].header.role: expected "generator", found "discriminator"');
  await rejectsWith(good().filter((_, i) => i !== 2), TensorValidationError, 'weights["dense1/kernel"].data: expected 1200000 bytes, found 1048576 bytes');
  const offset = good();
  offset[2] = { ...offset[2], byteOffset: 4 };
  await rejectsWith(offset, RequestValidationError, 'chunk[2].byte_offset: expected 1048576, found 4');
  const shape = good();
  shape[2] = { ...shape[2], shape: [1000, 300] };
  await rejectsWith(shape, TensorValidationError, /^chunk\[2\]\.shape: expected \[300, 1000\]/);
  const dup = good();
  dup.splice(4, 0, { ...dup[3] });
  await rejectsWith(dup, RequestValidationError, 'chunk[4].byte_offset: expected 4000, found 0');
  const long = good();
  long[3] = { ...long[3], data: Buffer.concat([long[3].data as Buffer, Buffer.alloc(4)]) };
  await rejectsWith(long, TensorValidationError, 'chunk[3].data: expected at most 4000 more bytes for "dense1/bias", found 4004 bytes');
  const huge = good();
  huge[1] = { ...huge[1], shape: [1e4, 1e4] };
  await rejectsWith(huge, TensorValidationError, /^chunk\[1\]\.shape: expected at most \d+ more bytes \(header.total_bytes\)/);
  // Beyond any header's total: refused by the element bound, before anything is allocated.
  const absurd = good();
  absurd[1] = { ...absurd[1], shape: [2 ** 40] };
  await rejectsWith(absurd, TensorValidationError, 'chunk[1].shape: expected at most 268435456 elements (2^28), found [1099511627776] (more than 2^28 elements)');
  absurd[0] = { ...absurd[0], header: { ...absurd[0].header!, totalBytes: 2 ** 53 } };
  await rejectsWith(absurd, RequestValidationError, /^chunk\[0\]\.header\.total_bytes: expected a non-negative integer below 2\^53/);
});

test('non-finite weights and inconsistent slots are rejected', async () => {
  const s = state();
  s.snapshot.tensors[1].data[5] = NaN;
  await rejectsWith([...snapshotToChunks(s)], TensorValidationError, 'weights["dense1/bias"].data: expected finite values, found NaN at index 5');
  const t = state();
  t.snapshot.optimizer.slots[0].name = 'nope/m';
  await rejectsWith([...snapshotToChunks(t)], SnapshotMismatchError, /optimizer slot "nope\/m" is not "<param>\/m"/);
});
