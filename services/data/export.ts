// Writing an ImageSet back to disk in either format, under the names loadImageSet looks for, so an
// exported directory can be passed straight to `--data`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeIdx } from './idx.ts';
import { imageSetToExamples, imageSetToIdx, type ImageSet } from './imageset.ts';
import { writeTFRecord } from './tfrecord.ts';

export type ExportFormat = 'tfrecord' | 'idx';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tfrecord', 'idx'];

export interface ExportOptions {
  format: ExportFormat;
  /** Gzip every file (names get a .gz suffix; readers detect gzip by content anyway). */
  gzip?: boolean;
}

/** Writes `set` into `dir` (created if missing) and returns the paths written. */
export async function exportImageSet(set: ImageSet, dir: string, opts: ExportOptions): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const gz = opts.gzip ? '.gz' : '';
  if (opts.format === 'tfrecord') {
    const file = join(dir, `${set.split}.tfrecord${gz}`);
    await writeTFRecord(file, imageSetToExamples(set), { gzip: opts.gzip });
    return [file];
  }
  // MNIST's own names: the test split is "t10k".
  const prefix = set.split === 'train' ? 'train' : 't10k';
  const images = join(dir, `${prefix}-images-idx3-ubyte${gz}`);
  const labels = join(dir, `${prefix}-labels-idx1-ubyte${gz}`);
  const idx = imageSetToIdx(set);
  await writeIdx(images, idx.images, { gzip: opts.gzip });
  await writeIdx(labels, idx.labels, { gzip: opts.gzip });
  return [images, labels];
}
