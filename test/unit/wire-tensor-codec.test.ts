// Tensor codec: exact float32 round trips through real protobuf bytes, alignment, endianness,
// validation messages that name the field, and the opt-in half-precision encodings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTensor, encodeTensor, littleEndianBytes } from '../../services/wire/tensor-codec.ts';
import { TensorValidationError } from '../../services/wire/errors.ts';
import { GENERATOR_SERVICE, serviceDefinition } from '../../services/wire/proto.ts';
import type { Tensor__Output } from '../../services/wire/generated/gantry/v1/Tensor.ts';
import {
  bfloat16ToFloatArray, float32BitsToHalf, floatToBfloat16Array, floatToHalfArray, halfToFloatArray, roundToHalf,
} from '../../services/wire/half-float.ts';
import { mulberry32 } from '../../services/data/seed.ts';

const generate = serviceDefinition(GENERATOR_SERVICE).Generate;
/** Through real protobuf bytes, as a server would receive it. */
const wire = (t: object): Tensor__Output =>
  (generate.responseDeserialize(generate.responseSerialize({ images: t })) as { images: Tensor__Output }).images;

function randomValues(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * 1e3);
}

const rejects = (fn: () => unknown, field: string, message: string) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TensorValidationError, `expected TensorValidationError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.equal(err.message, message);
    return true;
  });

test('float32 round trip through protobuf bytes is bit exact, with special values', () => {
  const data = randomValues(2 * 28 * 28, 1);
  data.set([0, -0, 1.4e-45, -3.4028235e38, 1e-38], 0);
  const back = decodeTensor(wire(encodeTensor(data, [2, 28, 28, 1])), 'images', { shape: [2, 28, 28, 1] });
  assert.deepEqual(back.shape, [2, 28, 28, 1]);
  assert.deepEqual(new Uint32Array(back.data.buffer), new Uint32Array(data.buffer));
  assert.ok(Object.is(back.data[1], -0));
});

test('the bytes field is the float32 memory, never one byte per element', () => {
  const data = Float32Array.from([1, 2, 3]);
  const msg = encodeTensor(data, [3]);
  assert.equal((msg.data as Buffer).length, 12);
  assert.deepEqual([...(msg.data as Buffer)], [...new Uint8Array(data.buffer)]);
  // A subarray view encodes only its own elements.
  const big = Float32Array.from([9, 1, 2, 3, 9]);
  assert.deepEqual([...(encodeTensor(big.subarray(1, 4), [3]).data as Buffer)], [...new Uint8Array(data.buffer)]);
});

test('decode copies an unaligned received buffer into a fresh aligned array', () => {
  const data = Float32Array.from([1.5, -2.25, 3.125]);
  const raw = Buffer.alloc(13);
  Buffer.from(data.buffer).copy(raw, 1);
  const unaligned = raw.subarray(1);
  assert.notEqual(unaligned.byteOffset % 4, 0);
  const back = decodeTensor({ dtype: 'FLOAT32', shape: [3], data: unaligned }, 'x');
  assert.deepEqual([...back.data], [1.5, -2.25, 3.125]);
  assert.equal(back.data.byteOffset, 0);
  unaligned.fill(0);
  assert.equal(back.data[0], 1.5, 'decoded data must not alias the received buffer');
});

test('a big-endian host swaps to little-endian on the wire and back', () => {
  const data = Float32Array.from([1, -2, 0.5]);
  const le = Buffer.from(data.buffer);
  const swapped = littleEndianBytes(data, false);
  assert.deepEqual([...swapped], [...Buffer.from(le).swap32()]);
  // What a big-endian host sends decodes on a big-endian host to the same values.
  const back = decodeTensor({ dtype: 'FLOAT32', shape: [3], data: swapped }, 'x', {}, false);
  assert.deepEqual([...back.data], [1, -2, 0.5]);
});

test('validation names the field, what was expected and what was found', () => {
  const t = (shape: number[], n = shape.reduce((a, b) => a * b, 1)) => wire(encodeTensor(new Float32Array(n), shape));
  const expect = { shape: [4, 28, 28, 1] };
  rejects(() => decodeTensor(t([4, 32, 28, 1]), 'fake', expect), 'fake.shape[1]', 'fake.shape[1]: expected 28, found 32');
  rejects(() => decodeTensor(t([4, 28, 28]), 'fake', expect), 'fake.shape',
    'fake.shape: expected 4 dimensions [4, 28, 28, 1], found 3 [4, 28, 28]');
  rejects(() => decodeTensor(t([2, 28, 28, 1]), 'fake', { shape: [null, 28, 28, 2] }), 'fake.shape[3]', 'fake.shape[3]: expected 2, found 1');
  const short = { ...t([4, 28, 28, 1]), data: Buffer.alloc(4 * 784 * 4 - 4) };
  rejects(() => decodeTensor(short, 'fake', expect), 'fake.data',
    'fake.data: expected 12544 bytes (3136 float32 values for shape [4, 28, 28, 1]), found 12540 bytes');
  rejects(() => decodeTensor({ ...t([2]), dtype: 'FLOAT16' }, 'grad'), 'grad.dtype', 'grad.dtype: expected FLOAT32, found FLOAT16');
  rejects(() => decodeTensor(null, 'grad'), 'grad', 'grad: expected a tensor, found none');
  rejects(() => decodeTensor({ dtype: 'FLOAT32', shape: [-1], data: Buffer.alloc(0) }, 'x'), 'x.shape[0]',
    'x.shape[0]: expected a non-negative integer, found -1');
});

test('non-finite values are counted and the first index is named', () => {
  const data = new Float32Array(64);
  data[17] = NaN;
  data[20] = Infinity;
  data[30] = -Infinity;
  data[63] = NaN;
  rejects(() => decodeTensor(wire(encodeTensor(data, [64])), 'grad'), 'grad.data',
    'grad.data: expected finite values, found 4 non-finite values, first at index 17');
  assert.equal(decodeTensor(wire(encodeTensor(data, [64])), 'grad', { finite: false }).data[20], Infinity);
});

test('encode rejects a shape that does not match the data', () => {
  assert.throws(() => encodeTensor(new Float32Array(5), [2, 3]), /shape \[2, 3\] has 6 elements, data has 5/);
});

test('float16: known bit patterns, ties to even, overflow and every half value round-trips', () => {
  const bits = (x: number) => float32BitsToHalf(new Uint32Array(Float32Array.from([x]).buffer)[0]);
  assert.equal(bits(1), 0x3c00);
  assert.equal(bits(-2), 0xc000);
  assert.equal(bits(65504), 0x7bff);
  assert.equal(bits(65520), 0x7c00); // rounds up to Inf
  assert.equal(bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(bits(2 ** -25), 0x0000); // tie rounds to even (zero)
  assert.equal(bits(1.5 * 2 ** -25), 0x0001);
  assert.equal(bits(2 ** -14), 0x0400); // smallest normal
  assert.equal(bits(1 + 2 ** -11), 0x3c00); // tie between 1 and 1+2^-10 goes to even
  assert.equal(bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(bits(NaN) & 0x7e00, 0x7e00);
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0);
  assert.deepEqual(floatToHalfArray(halfToFloatArray(all)), all);
  assert.equal(roundToHalf(0.1), 0.0999755859375);
});

test('bfloat16: every value round-trips and rounding is to nearest even', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7f80) !== 0x7f80 || (h & 0x7f) === 0);
  assert.deepEqual(floatToBfloat16Array(bfloat16ToFloatArray(all)), all);
  const x = new Float32Array(new Uint32Array([0x3f808000, 0x3f818000, 0x3f808001]).buffer);
  assert.deepEqual([...floatToBfloat16Array(x)], [0x3f80, 0x3f82, 0x3f81]);
});

test('half encodings are opt-in on the receiver and accurate to their precision', () => {
  const data = randomValues(1000, 2).map((v) => v / 100);
  for (const [dtype, rel] of [['FLOAT16', 2 ** -11], ['BFLOAT16', 2 ** -8]] as const) {
    const msg = wire(encodeTensor(data, [10, 100], dtype));
    assert.equal(msg.data.length, 2000);
    assert.throws(() => decodeTensor(msg, 'x'), /x\.dtype: expected FLOAT32, found/);
    const back = decodeTensor(msg, 'x', { shape: [10, 100], dtypes: [dtype] }).data;
    for (let i = 0; i < data.length; i++) {
      assert.ok(Math.abs(back[i] - data[i]) <= Math.abs(data[i]) * rel + 2 ** -24, `${dtype} value ${i}: ${data[i]} -> ${back[i]}`);
    }
  }
  rejects(() => decodeTensor(wire(encodeTensor(Float32Array.from([1e5]), [1], 'FLOAT16')), 'x', { dtypes: ['FLOAT16'] }),
    'x.data', 'x.data: expected finite values, found 1 non-finite value, first at index 0');
});
