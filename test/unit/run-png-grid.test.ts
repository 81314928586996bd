import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { encodeGrid, PAD_GREY, toByte, writeGrid } from '../../services/run/png-grid.ts';
import { tempDir } from './run-fixtures.ts';

/** Gray value at (x, y) of a decoded PNG (pngjs decodes to RGBA). */
function grey(png: PNG, x: number, y: number): number {
  const i = (y * png.width + x) * 4;
  assert.equal(png.data[i], png.data[i + 1]);
  assert.equal(png.data[i], png.data[i + 2]);
  return png.data[i];
}

test('toByte maps [-1, 1] to 0..255, clamps, and sends NaN to 0', () => {
  assert.deepEqual([-1, 1, 0, -2, 3, NaN, 0.5].map(toByte), [0, 255, 128, 0, 255, 0, 191]);
});

test('an 8x8 grid of 28x28 images has the right size, pixel values and grey padding', () => {
  const n = 64;
  const images = new Float32Array(n * 28 * 28).fill(-1); // (64, 28, 28)
  images[0] = 1; // image 0, (0, 0)
  images[9 * 784 + 5 * 28 + 7] = 1; // image 9 (row 1, col 1), (y 5, x 7)
  images[63 * 784 + 27 * 28 + 27] = 0; // last image, bottom-right pixel
  const png = PNG.sync.read(encodeGrid(images, { n, height: 28, width: 28, cols: 8 }));
  assert.equal(png.width, 8 * 30 + 2);
  assert.equal(png.height, 8 * 30 + 2);
  assert.equal(grey(png, 0, 0), PAD_GREY);
  assert.equal(grey(png, 2, 2), 255);
  assert.equal(grey(png, 3, 2), 0);
  assert.equal(grey(png, 32 + 7, 32 + 5), 255);
  assert.equal(grey(png, 30, 10), PAD_GREY, 'gap between columns');
  assert.equal(grey(png, 7 * 30 + 2 + 27, 7 * 30 + 2 + 27), 128);
});

test('a partial last row is padded grey, cols larger than n shrinks the width, padding 0 works', () => {
  const images = new Float32Array(5 * 2 * 3).fill(1); // (5, 2, 3)
  const png = PNG.sync.read(encodeGrid(images, { n: 5, height: 2, width: 3, cols: 4, padding: 1 }));
  assert.equal(png.width, 4 * 4 + 1);
  assert.equal(png.height, 2 * 3 + 1);
  assert.equal(grey(png, 1, 4), 255, 'image 4 at row 1, col 0');
  assert.equal(grey(png, 5, 4), PAD_GREY, 'empty cell');
  const narrow = PNG.sync.read(encodeGrid(images.subarray(0, 12), { n: 2, height: 2, width: 3, cols: 8, padding: 0 }));
  assert.equal(narrow.width, 6);
  assert.equal(narrow.height, 2);
});

test('bad sizes are rejected naming the option', () => {
  assert.throws(() => encodeGrid(new Float32Array(10), { n: 2, height: 2, width: 2, cols: 2 }), /images has 10 values; n\*height\*width = 2\*2\*2 = 8/);
  assert.throws(() => encodeGrid(new Float32Array(8), { n: 2, height: 2, width: 2, cols: 0 }), /cols must be an integer >= 1, got 0/);
});

test('writeGrid writes the PNG atomically into a new directory', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'samples', 'iter-000100.png');
  await writeGrid(file, new Float32Array(4).fill(-1), { n: 1, height: 2, width: 2, cols: 1 });
  const png = PNG.sync.read(await fsp.readFile(file));
  assert.equal(grey(png, 2, 2), 0);
  assert.deepEqual(await fsp.readdir(path.dirname(file)), ['iter-000100.png']);
});
