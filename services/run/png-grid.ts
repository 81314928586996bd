// Sample grids: N grayscale images in [-1, 1] (the generator's tanh range) tiled into one PNG,
// `cols` per row, with `padding` mid-grey pixels between and around the tiles so the black
// MNIST backgrounds of neighbouring samples stay apart. Empty cells of the last row are grey too.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { PNG } from 'pngjs';
import { writeFileAtomic } from './atomic-file.ts';

export interface GridOptions {
  n: number;
  height: number;
  width: number;
  cols: number;
  /** Pixels between and around tiles (default 2). */
  padding?: number;
}

export const PAD_GREY = 128;

/** [-1, 1] -> 0..255, clamped; NaN becomes 0 so a diverged sample shows as black, not noise. */
export function toByte(v: number): number {
  if (!(v > -1)) return 0;
  if (v >= 1) return 255;
  return Math.round(((v + 1) / 2) * 255);
}

function checkOptions(images: Float32Array, o: GridOptions): Required<GridOptions> {
  const padding = o.padding ?? 2;
  const ints: [string, number, number][] = [['n', o.n, 1], ['height', o.height, 1], ['width', o.width, 1], ['cols', o.cols, 1], ['padding', padding, 0]];
  for (const [name, v, min] of ints) {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`encodeGrid: ${name} must be an integer >= ${min}, got ${v}`);
  }
  if (images.length !== o.n * o.height * o.width) {
    throw new RangeError(`encodeGrid: images has ${images.length} values; n*height*width = ${o.n}*${o.height}*${o.width} = ${o.n * o.height * o.width}`);
  }
  return { ...o, padding };
}

/** Grid geometry: output size in pixels for `n` tiles. */
export function gridSize(o: GridOptions): { rows: number; pixelWidth: number; pixelHeight: number } {
  const padding = o.padding ?? 2;
  const cols = Math.min(o.cols, o.n);
  const rows = Math.ceil(o.n / o.cols);
  return { rows, pixelWidth: cols * (o.width + padding) + padding, pixelHeight: rows * (o.height + padding) + padding };
}

/** images: (N, H, W) row-major, values in [-1, 1]. Returns the PNG file bytes (8-bit grayscale). */
export function encodeGrid(images: Float32Array, options: GridOptions): Buffer {
  const o = checkOptions(images, options);
  const { pixelWidth, pixelHeight } = gridSize(o);
  const cols = Math.min(o.cols, o.n);
  const pixels = Buffer.alloc(pixelWidth * pixelHeight, PAD_GREY); // (pixelHeight, pixelWidth)
  for (let i = 0; i < o.n; i++) {
    const top = o.padding + Math.floor(i / cols) * (o.height + o.padding);
    const left = o.padding + (i % cols) * (o.width + o.padding);
    const base = i * o.height * o.width;
    for (let y = 0; y < o.height; y++) {
      const row = (top + y) * pixelWidth + left;
      for (let x = 0; x < o.width; x++) pixels[row + x] = toByte(images[base + y * o.width + x]);
    }
  }
  const png = new PNG({ width: pixelWidth, height: pixelHeight, colorType: 0, inputColorType: 0, bitDepth: 8 });
  png.data = pixels;
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8 });
}

/** Encodes and writes atomically (temp + rename), creating the directory if needed. */
export async function writeGrid(file: string, images: Float32Array, options: GridOptions): Promise<void> {
  const bytes = encodeGrid(images, options);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, bytes);
}
