// TFRecord: CRC-32C against published vectors, the exact framing bytes of one record computed by
// hand, tf.train.Example encoding, round trips, and corruption located by record and offset.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { crc32c, maskCrc, maskedCrc32c } from '../../services/data/crc32c.ts';
import { DataFormatError, RecordCorruptError } from '../../services/data/errors.ts';
import { decodeExample, encodeExample } from '../../services/data/example.ts';
import { imageSetFromExamples } from '../../services/data/imageset.ts';
import { decodeTFRecords, encodeTFRecords, readTFRecord, writeTFRecord } from '../../services/data/tfrecord.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'gantry-data-tfrecord-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

test('crc32c matches the published check value and RFC 3720 vectors', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('crc32c can be continued across chunks of any alignment', () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);
  const whole = crc32c(bytes);
  for (const cut of [1, 7, 8, 9, 500, 999]) {
    assert.equal(crc32c(bytes.subarray(cut), crc32c(bytes.subarray(0, cut))), whole, `cut at ${cut}`);
  }
});

test('the mask rotates right by 15 and adds 0xa282ead8', () => {
  assert.equal(maskCrc(0), 0xa282ead8);
  assert.equal(maskCrc(0x8000), (1 + 0xa282ead8) >>> 0);
  assert.equal(maskCrc(1), (0x20000 + 0xa282ead8) >>> 0);
});

// image = the 4 bytes 00 01 02 03 (a 2x2 image), label = one raw byte 07, worked out by hand:
//   Example{1: Features{1: entry{1:"image", 2: Feature{1: BytesList{1: 00010203}}},
//                       1: entry{1:"label", 2: Feature{1: BytesList{1: 07}}}}}
const TINY_EXAMPLE = '0a23' + '0a11' + '0a05' + hex(new TextEncoder().encode('image')) + '1208' + '0a06' + '0a04' + '00010203' +
  '0a0e' + '0a05' + hex(new TextEncoder().encode('label')) + '1205' + '0a03' + '0a01' + '07';
// 37 = 0x25 as uint64 LE, masked crc32c of those 8 bytes (LE), data, masked crc32c of data (LE);
// the CRCs come from a bit-at-a-time CRC-32C written separately from the table code.
const TINY_RECORD = '2500000000000000' + 'eabc36f3' + TINY_EXAMPLE + '3339e8de';

function tinyExample(): Uint8Array {
  return encodeExample({
    image: { kind: 'bytes', values: [Uint8Array.from([0, 1, 2, 3])] },
    label: { kind: 'bytes', values: [Uint8Array.from([7])] },
  });
}

test('an Example with image and label serializes to the hand-computed bytes', () => {
  assert.equal(hex(tinyExample()), TINY_EXAMPLE);
});

test('a written file has the exact framing bytes', async () => {
  const path = join(dir, 'tiny.tfrecord');
  await writeTFRecord(path, [tinyExample()]);
  assert.equal(hex(await readFile(path)), TINY_RECORD);
  assert.equal(maskedCrc32c(fromHex('2500000000000000')), 0xf336bcea);
});

test('Examples round trip every feature kind; int64 lists are packed', () => {
  const bytes = encodeExample({
    image: { kind: 'bytes', values: [Uint8Array.from([9, 8]), Uint8Array.from([])] },
    label: { kind: 'int64', values: [3, 2 ** 40] },
    scale: { kind: 'float', values: [0.5, -2] },
  });
  const back = decodeExample(bytes);
  assert.deepEqual(back.image.kind, 'bytes');
  assert.deepEqual(back.image.values.map((v) => Array.from(v as Uint8Array)), [[9, 8], []]);
  assert.deepEqual(back.label, { kind: 'int64', values: [3, 2 ** 40] });
  assert.deepEqual(back.scale, { kind: 'float', values: [0.5, -2] });
  assert.ok(hex(bytes).includes('1a090a07'), 'int64_list value should be one packed field (0a len ...)');
});

test('an unpacked int64 label, as other writers produce, is read', () => {
  // Feature{3: Int64List{1: varint 7}} written with the unpacked wire type (tag 08).
  const example = '0a2f0a100a05696d61676512070a050a030102030a0d0a056c6162656c12041a0208070a0c0a0166120712050d0000003f';
  const f = decodeExample(fromHex(example));
  assert.deepEqual(f.label, { kind: 'int64', values: [7] });
});

test('an image set reads labels stored as bytes or as int64', () => {
  const img = new Uint8Array(784).fill(200);
  const records = [
    encodeExample({ image: { kind: 'bytes', values: [img] }, label: { kind: 'bytes', values: [Uint8Array.from([4])] } }),
    encodeExample({ image: { kind: 'bytes', values: [img] }, label: { kind: 'int64', values: [9] } }),
  ];
  const set = imageSetFromExamples(records, 'mem.tfrecord', 'train');
  assert.deepEqual([set.count, set.height, set.width], [2, 28, 28]);
  assert.deepEqual(Array.from(set.labels), [4, 9]);
  assert.equal(set.images[784 + 5], 200);
});

test('an Example missing its label names the file, record and what was found', () => {
  const records = [
    encodeExample({ image: { kind: 'bytes', values: [new Uint8Array(4)] }, label: { kind: 'int64', values: [1] } }),
    encodeExample({ image: { kind: 'bytes', values: [new Uint8Array(4)] } }),
  ];
  assert.throws(() => imageSetFromExamples(records, 'x.tfrecord', 'test'),
    (err: unknown) => err instanceof DataFormatError && /x\.tfrecord: record 1: expected feature 'label'.*found no such feature/.test(err.message));
});

test('images of different sizes are rejected with both sizes', () => {
  const records = [4, 9].map((n) => encodeExample({
    image: { kind: 'bytes', values: [new Uint8Array(n)] }, label: { kind: 'bytes', values: [Uint8Array.from([1])] },
  }));
  assert.throws(() => imageSetFromExamples(records, 'y.tfrecord', 'test'), /y\.tfrecord: record 1: expected a 4-byte image \(2x2\).*found 9 bytes/);
});

test('records of many sizes round trip through a file, gzip included', async () => {
  const records = [0, 1, 7, 8, 100, 5000].map((n) => Uint8Array.from({ length: n }, (_, i) => (i * n) & 0xff));
  for (const gzip of [false, true]) {
    const path = join(dir, `many-${gzip}.tfrecord`);
    await writeTFRecord(path, records, { gzip });
    const back = await readTFRecord(path);
    assert.deepEqual(back.map((r) => Array.from(r)), records.map((r) => Array.from(r)));
  }
});

function threeRecordFile(): Uint8Array {
  return encodeTFRecords([new Uint8Array(10).fill(1), new Uint8Array(20).fill(2), new Uint8Array(30).fill(3)]);
}

test('one flipped data byte in a file is caught with the record index and offset', async () => {
  const bytes = threeRecordFile();
  // Record 1 starts after record 0's 12 + 10 + 4 bytes; flip its 5th data byte.
  bytes[26 + 12 + 4] ^= 0x40;
  const path = join(dir, 'flipped.tfrecord');
  await writeFile(path, bytes);
  await assert.rejects(readTFRecord(path), (err: unknown) => {
    assert.ok(err instanceof RecordCorruptError);
    assert.equal(err.recordIndex, 1);
    assert.equal(err.byteOffset, 26);
    assert.match(err.message, new RegExp(`${path.replace(/[.]/g, '\\.')}: record 1 at byte offset 26: data CRC mismatch`));
    return true;
  });
});

test('a damaged length field is caught by the length CRC before it is trusted', () => {
  const bytes = threeRecordFile();
  bytes[62 + 2] = 0xff; // record 2 (at 26 + 36) gets a huge length
  assert.throws(() => decodeTFRecords(bytes, 'len.tfrecord'), /len\.tfrecord: record 2 at byte offset 62: length CRC mismatch/);
});

test('truncation inside the data and inside the header are both located', () => {
  const bytes = threeRecordFile();
  assert.throws(() => decodeTFRecords(bytes.subarray(0, bytes.length - 5), 't.tfrecord'),
    /t\.tfrecord: record 2 at byte offset 62: truncated: expected 46 bytes for a 30-byte record, found 41/);
  assert.throws(() => decodeTFRecords(bytes.subarray(0, 26 + 5), 't.tfrecord'),
    /t\.tfrecord: record 1 at byte offset 26: truncated: expected a 12-byte record header, found 5 bytes/);
});
