// The real `gantry data` entry point in child processes: export the bundled MNIST test split as
// TFRecord, then read it back with `data info --data`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const GANTRY = join(import.meta.dirname, '..', '..', 'bin', 'gantry.js');
let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'gantry-data-cli-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function gantry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GANTRY, ...args], { env: { ...process.env, GANTRY_DEBUG: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('data export --format tfrecord --split test, then data info --data reads it back', async () => {
  const out = join(dir, 'tfr');
  const exp = await gantry('data', 'export', '--format', 'tfrecord', '--split', 'test', '--out', out);
  assert.equal(exp.code, 0, exp.stderr);
  assert.match(exp.stdout, /test: wrote 10000 images \(28x28\) as tfrecord/);
  assert.deepEqual(await readdir(out), ['test.tfrecord']);

  const info = await gantry('data', 'info', '--data', out, '--json');
  assert.equal(info.code, 0, info.stderr);
  const parsed = JSON.parse(info.stdout) as { splits: Array<{ split: string; format: string; count: number; shape: number[]; labelHistogram: number[] }> };
  assert.equal(parsed.splits.length, 1);
  const [s] = parsed.splits;
  assert.deepEqual([s.split, s.format, s.count], ['test', 'tfrecord', 10000]);
  assert.deepEqual(s.shape, [28, 28, 1]);
  // MNIST's published test-set class counts.
  assert.deepEqual(s.labelHistogram, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);

  const text = await gantry('data', 'info', '--data', out);
  assert.match(text.stdout, /test: 10000 images of 28x28x1 uint8 \(tfrecord\)/);
  assert.match(text.stdout, /labels {2}0:980 1:1135/);
});

test('asking for a split that is not there fails naming the names tried', async () => {
  const empty = await mkdtemp(join(dir, 'empty-'));
  const r = await gantry('data', 'info', '--data', empty, '--split', 'train');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no train images found; tried train\.tfrecord.*train-images-idx3-ubyte/);
});

test('a bad --format is rejected naming the flag and the allowed values', async () => {
  const r = await gantry('data', 'export', '--format', 'csv', '--out', join(dir, 'x'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--format.*'csv' is invalid.*tfrecord, idx/);
});
