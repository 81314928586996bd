import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SafetensorsError } from '../../services/run/errors.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../../services/run/safetensors.ts';
import type { TensorEntry } from '../../services/run/tensor-entry.ts';
import { tempDir } from './run-fixtures.ts';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);

// Names whose JSON/sorted order differs from the written order ("10" and "2" are integer-like
// keys that JSON.parse moves to the front).
const SAMPLE: TensorEntry[] = [
  { name: 'z/kernel', shape: [2, 3], data: f32(1, -2, 3.5, 1e-30, -0, 6) },
  { name: '10', shape: [], data: f32(42) },
  { name: 'a', shape: [0, 3], data: new Float32Array(0) },
  { name: '2', shape: [1], data: f32(Number.NaN) },
];

/** A file laid out by hand from the format description: the independent writer. */
function handBuilt(header: Record<string, unknown>, data: Uint8Array, padTo8 = true): Buffer {
  let json = JSON.stringify(header);
  if (padTo8) json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([prefix, Buffer.from(json), data]);
}

async function expectError(file: string, re: RegExp, tensor?: string): Promise<void> {
  await assert.rejects(readSafetensors(file), (err: unknown) => {
    assert.ok(err instanceof SafetensorsError, `expected SafetensorsError, got ${String(err)}`);
    assert.match(err.message, re);
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
    if (tensor) assert.equal(err.tensor, tensor);
    return true;
  });
}

test('round trip keeps order, shapes, values (incl. NaN, -0, scalars, empty) and metadata', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'm.safetensors');
  const written = await writeSafetensors(file, SAMPLE, { role: 'generator', note: 'ü' });
  const back = await readSafetensors(file);
  assert.deepEqual(back.metadata, { role: 'generator', note: 'ü' });
  assert.deepEqual(back.tensors.map((t) => t.name), SAMPLE.map((t) => t.name));
  for (const [i, t] of back.tensors.entries()) {
    assert.deepEqual(t.shape, SAMPLE[i].shape);
    assert.deepEqual(new Uint8Array(t.data.buffer), new Uint8Array(SAMPLE[i].data.buffer), `bytes of ${t.name}`);
  }
  const bytes = await fsp.readFile(file);
  assert.equal(written.bytes, bytes.length);
  assert.equal(written.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(await fsp.readdir(dir), ['m.safetensors'], 'no temp files left');
});

test('layout follows the format: u64 LE length, 8-aligned JSON header, F32 entries, contiguous data', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'm.safetensors');
  await writeSafetensors(file, SAMPLE);
  const bytes = await fsp.readFile(file);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  assert.deepEqual(header['z/kernel'], { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(header['10'], { dtype: 'F32', shape: [], data_offsets: [24, 28] });
  assert.deepEqual(header['a'], { dtype: 'F32', shape: [0, 3], data_offsets: [28, 28] });
  assert.equal(bytes.length, 8 + n + 32);
  assert.equal(bytes.readFloatLE(8 + n + 8), 3.5);
});

test('a file from another writer (no order key, keys out of file order) is read in file order', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'other.safetensors');
  const data = Buffer.alloc(12);
  data.writeFloatLE(1.5, 0); // "b" [1]
  data.writeFloatLE(-2, 4); // "a" [2]
  data.writeFloatLE(0.25, 8);
  const header = {
    a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    __metadata__: { format: 'pt' },
    b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
  };
  await fsp.writeFile(file, handBuilt(header, data, false));
  const back = await readSafetensors(file);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual(back.tensors.map((t) => [t.name, [...t.data]]), [['b', [1.5]], ['a', [-2, 0.25]]]);
  assert.deepEqual((await readSafetensorsHeader(file)).entries.map((e) => e.name), ['b', 'a']);
});

test('dtypes other than F32 are rejected naming the tensor and dtype', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'half.safetensors');
  await fsp.writeFile(file, handBuilt({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(4)));
  await expectError(file, /tensor "w": dtype F16 is not supported; gantry reads F32 only/, 'w');
});

test('a truncated file fails naming the file and the cut tensor', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'cut.safetensors');
  await writeSafetensors(file, SAMPLE);
  const bytes = await fsp.readFile(file);
  await fsp.writeFile(file, bytes.subarray(0, bytes.length - 2));
  await expectError(file, /tensor "2" needs data bytes \[28, 32\) but the file has only 30: truncated/, '2');
  await fsp.writeFile(file, bytes.subarray(0, 20));
  await expectError(file, /header length \d+ exceeds the file \(20 bytes\)/);
  await fsp.writeFile(file, bytes.subarray(0, 5));
  await expectError(file, /5 bytes; a safetensors file has at least 8/);
});

test('trailing bytes, overlapping offsets, wrong sizes and bad JSON are rejected', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'bad.safetensors');
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  await fsp.writeFile(file, handBuilt(ok, Buffer.alloc(12)));
  await expectError(file, /4 bytes after the last tensor/);
  const overlap = { ...ok, v: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
  await fsp.writeFile(file, handBuilt(overlap, Buffer.alloc(8)));
  await expectError(file, /starts at data byte 4, expected 8 \(overlap or gap\)/);
  await fsp.writeFile(file, handBuilt({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)));
  await expectError(file, /tensor "w": data_offsets \[0, 8\] hold 8 bytes; shape \[3\] needs 12/, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(8n);
  await fsp.writeFile(file, Buffer.concat([prefix, Buffer.from('{"w": [1')]));
  await expectError(file, /header is not valid UTF-8 JSON/);
});

test('writing rejects a data length that does not match the shape, and leaves nothing behind', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'x.safetensors');
  await assert.rejects(writeSafetensors(file, [{ name: 'w', shape: [2, 2], data: f32(1, 2, 3) }]), /tensor "w" has shape \[2, 2\] \(4 values\) but 3 values/);
  await assert.rejects(writeSafetensors(file, SAMPLE, { 'gantry.order': 'x' }), /reserved/);
  assert.deepEqual(await fsp.readdir(dir), []);
});

test('an independent reader (numpy) sees the same tensors', async (t) => {
  const hasNumpy = (() => {
    try {
      execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasNumpy) {
    t.skip('python3 with numpy is not installed');
    return;
  }
  const dir = await tempDir();
  const file = path.join(dir, 'm.safetensors');
  await writeSafetensors(file, SAMPLE.slice(0, 2));
  const script = [
    'import json, struct, sys, numpy as np',
    'b = open(sys.argv[1], "rb").read()',
    'n = struct.unpack("<Q", b[:8])[0]',
    'h = json.loads(b[8:8+n])',
    'out = {}',
    'for k, v in h.items():',
    '    if k == "__metadata__": continue',
    '    s, e = v["data_offsets"]',
    '    out[k] = np.frombuffer(b[8+n+s:8+n+e], dtype="<f4").reshape(v["shape"]).tolist()',
    'print(json.dumps(out))',
  ].join('\n');
  const out = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
  assert.deepEqual(out['z/kernel'], [[1, -2, 3.5], [Math.fround(1e-30), -0, 6]]);
  assert.equal(out['10'], 42);
});
