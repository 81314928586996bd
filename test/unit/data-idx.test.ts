// IDX reader and writer: round trips for every dtype, plain and gzip, and each way a file can be
// broken, with messages that name the file and the numbers.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataFormatError } from '../../services/data/errors.ts';
import { encodeIdx, readIdx, writeIdx, type IdxData } from '../../services/data/idx.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'gantry-data-idx-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const SAMPLES: Record<string, IdxData> = {
  uint8: Uint8Array.from([0, 1, 127, 128, 255, 42]),
  int8: Int8Array.from([-128, -1, 0, 1, 127, 5]),
  int16: Int16Array.from([-32768, -2, 0, 3, 32767, 258]),
  int32: Int32Array.from([-2147483648, -1, 0, 1, 2147483647, 65536]),
  float32: Float32Array.from([-1.5, 0, 0.25, 3.4e38, -1e-30, Math.fround(Math.PI)]),
  float64: Float64Array.from([-1.5, 0, Math.PI, 1e300, -1e-300, Math.E]),
};

for (const [dtype, data] of Object.entries(SAMPLES)) {
  for (const gzip of [false, true]) {
    test(`round trip ${dtype} ${gzip ? 'gzip' : 'plain'}`, async () => {
      const path = join(dir, `rt-${dtype}${gzip ? '.gz' : ''}`);
      await writeIdx(path, { dims: [2, 3], data }, { gzip });
      const back = await readIdx(path);
      assert.equal(back.dtype, dtype);
      assert.deepEqual(back.dims, [2, 3]);
      assert.equal(back.data.constructor, data.constructor);
      assert.deepEqual(Array.from(back.data), Array.from(data));
      assert.equal(back.path, path);
    });
  }
}

test('values are stored big-endian after a 00 00 type ndims magic', () => {
  const bytes = encodeIdx({ dims: [2], data: Int16Array.from([0x0102, -2]) });
  assert.deepEqual(Array.from(bytes), [0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
});

test('gzip is detected by its magic bytes, not the file name', async () => {
  const path = join(dir, 'labels-without-extension');
  await writeFile(path, gzipSync(encodeIdx({ dims: [3], data: Uint8Array.from([7, 8, 9]) })));
  const back = await readIdx(path);
  assert.deepEqual(Array.from(back.data), [7, 8, 9]);
});

async function writeBytes(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

async function expectFormatError(path: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(readIdx(path), (err: unknown) => {
    assert.ok(err instanceof DataFormatError, `expected DataFormatError, got ${String(err)}`);
    assert.equal(err.file, path);
    for (const f of [path, ...fragments]) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${f}`);
    return true;
  });
}

test('a truncated image file names the file, the shape and both byte counts', async () => {
  const full = encodeIdx({ dims: [10, 4, 4], data: new Uint8Array(160) });
  const path = await writeBytes('train-images-idx3-ubyte', full.subarray(0, 16 + 50));
  await expectFormatError(path, 'expected 176 bytes for 10x4x4 uint8, found 66');
});

test('a truncated gzip file is reported after gunzip with the same numbers', async () => {
  const full = encodeIdx({ dims: [10, 4, 4], data: new Uint8Array(160) });
  const path = await writeBytes('short.gz', gzipSync(full.subarray(0, 100)));
  await expectFormatError(path, 'expected 176 bytes for 10x4x4 uint8, found 100', 'after gunzip');
});

test('trailing bytes are rejected too', async () => {
  const full = encodeIdx({ dims: [3], data: Int32Array.from([1, 2, 3]) });
  const path = await writeBytes('long', Uint8Array.from([...full, 0]));
  await expectFormatError(path, 'expected 20 bytes for 3 int32, found 21');
});

test('wrong magic shows the bytes found', async () => {
  const path = await writeBytes('wrong-magic', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]));
  await expectFormatError(path, 'expected IDX magic 00 00 <type> <ndims>', 'found 50 4b 03 04');
});

test('an unknown type code is named', async () => {
  const path = await writeBytes('bad-type', Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 1, 9]));
  await expectFormatError(path, 'found 07');
});

test('a header cut inside the dimensions is reported', async () => {
  const path = await writeBytes('short-header', Uint8Array.from([0, 0, 0x08, 3, 0, 0, 0, 5, 0, 0]));
  await expectFormatError(path, 'expected a 16-byte header for 3 dimensions, found 10 bytes');
});

test('a file shorter than the magic is reported', async () => {
  const path = await writeBytes('tiny', Uint8Array.from([0, 0]));
  await expectFormatError(path, 'found 2 bytes');
});

test('a damaged gzip stream is a DataFormatError naming the file', async () => {
  const gz = gzipSync(encodeIdx({ dims: [64], data: new Uint8Array(64).fill(3) }));
  const path = await writeBytes('damaged.gz', gz.subarray(0, gz.length - 6));
  await expectFormatError(path, 'gzip');
});

test('writeIdx rejects dims that do not match the data', async () => {
  await assert.rejects(writeIdx(join(dir, 'x'), { dims: [2, 2], data: new Uint8Array(5) }), /2x2 need 4 values, data has 5/);
});

test('the bundled MNIST labels parse as 60000 uint8 values starting 5 0 4 1', async () => {
  const { bundledMnistDir } = await import('../../services/data/mnist.ts');
  const path = join(bundledMnistDir(), 'train-labels-idx1-ubyte');
  const arr = await readIdx(path);
  assert.deepEqual(arr.dims, [60000]);
  assert.deepEqual(Array.from(arr.data.subarray(0, 4)), [5, 0, 4, 1]);
  assert.equal((await readFile(path)).length, 60008);
});
