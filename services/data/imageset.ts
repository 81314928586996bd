// ImageSet: a labelled set of single-channel uint8 images held as two flat arrays, and its
// conversions to and from the two on-disk formats (an IDX image/label pair, or TFRecord files of
// tf.train.Example with an `image` bytes feature and a `label` feature).
import { DataFormatError } from './errors.ts';
import { decodeExample, encodeExample, type Feature } from './example.ts';
import type { IdxArray } from './idx.ts';

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];
export const NUM_CLASSES = 10;

export interface ImageSet {
  /** Where the set was read from (a directory or file), for messages and run records. */
  source: string;
  split: Split;
  count: number;
  height: number;
  width: number;
  /** (N, H, W) row-major, 0..255. */
  images: Uint8Array;
  /** (N,) class ids in [0, numClasses). */
  labels: Uint8Array;
  numClasses: 10;
}

/** Pairs an IDX image file with its label file, checking shapes, counts and label range. */
export function imageSetFromIdx(images: IdxArray, labels: IdxArray, split: Split, source: string): ImageSet {
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new DataFormatError(images.path, `${images.path}: expected 3-d uint8 images (N x H x W), ` +
      `found ${images.dims.length}-d ${images.dtype} (${images.dims.join('x')})`);
  }
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1) {
    throw new DataFormatError(labels.path, `${labels.path}: expected 1-d uint8 labels, ` +
      `found ${labels.dims.length}-d ${labels.dtype} (${labels.dims.join('x')})`);
  }
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DataFormatError(labels.path, `${labels.path}: expected ${count} labels to match ${images.path}, ` +
      `found ${labels.dims[0]}`);
  }
  const labelBytes = labels.data as Uint8Array;
  checkLabels(labelBytes, labels.path);
  return { source, split, count, height, width, images: images.data as Uint8Array, labels: labelBytes, numClasses: NUM_CLASSES };
}

function checkLabels(labels: Uint8Array, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= NUM_CLASSES) {
      throw new DataFormatError(file, `${file}: expected labels in 0..${NUM_CLASSES - 1}, found ${labels[i]} at index ${i}`);
    }
  }
}

/** The IDX arrays (images (N, H, W) and labels (N,)) of a set. */
export function imageSetToIdx(set: ImageSet): { images: Pick<IdxArray, 'dims' | 'data'>; labels: Pick<IdxArray, 'dims' | 'data'> } {
  return {
    images: { dims: [set.count, set.height, set.width], data: set.images },
    labels: { dims: [set.count], data: set.labels },
  };
}

/** One serialized Example per image: `image` = H*W raw bytes, `label` = one raw byte (the workshop's layout). */
export function* imageSetToExamples(set: ImageSet): Generator<Uint8Array> {
  const size = set.height * set.width;
  for (let i = 0; i < set.count; i++) {
    yield encodeExample({
      image: { kind: 'bytes', values: [set.images.subarray(i * size, (i + 1) * size)] },
      label: { kind: 'bytes', values: [set.labels.subarray(i, i + 1)] },
    });
  }
}

interface DecodedDigit { image: Uint8Array; label: number; height?: number; width?: number }

/**
 * Builds a set from TFRecord records of Examples. Images are square unless the Examples carry
 * int64 `height` and `width` features; every image must have the same size.
 */
export function imageSetFromExamples(records: Uint8Array[], file: string, split: Split): ImageSet {
  if (records.length === 0) throw new DataFormatError(file, `${file}: expected at least one record, found none`);
  const first = decodeDigit(records[0], file, 0);
  const [height, width] = imageShape(first, file);
  const size = height * width;
  // height/width features are the file's word, not a bound: they must describe record 0's bytes
  // before anything is allocated from them.
  if (size !== first.image.length) {
    throw new DataFormatError(file, `${file}: record 0: height x width = ${height}x${width} needs a ${size}-byte image, found ${first.image.length} bytes`);
  }
  const images = new Uint8Array(records.length * size);
  const labels = new Uint8Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const digit = i === 0 ? first : decodeDigit(records[i], file, i);
    if (digit.image.length !== size) {
      throw new DataFormatError(file, `${file}: record ${i}: expected a ${size}-byte image (${height}x${width}) ` +
        `like record 0, found ${digit.image.length} bytes`);
    }
    images.set(digit.image, i * size);
    labels[i] = digit.label;
  }
  return { source: file, split, count: records.length, height, width, images, labels, numClasses: NUM_CLASSES };
}

function imageShape(digit: DecodedDigit, file: string): [number, number] {
  if (digit.height !== undefined && digit.width !== undefined) return [digit.height, digit.width];
  const side = Math.round(Math.sqrt(digit.image.length));
  if (side * side !== digit.image.length || side === 0) {
    throw new DataFormatError(file, `${file}: record 0: expected a square image (e.g. 784 bytes for 28x28) or ` +
      `int64 height/width features, found ${digit.image.length} bytes and no height/width`);
  }
  return [side, side];
}

function decodeDigit(record: Uint8Array, file: string, index: number): DecodedDigit {
  const fail = (what: string): never => { throw new DataFormatError(file, `${file}: record ${index}: ${what}`); };
  let features;
  try {
    features = decodeExample(record);
  } catch (err) {
    throw new DataFormatError(file, `${file}: record ${index}: expected a tf.train.Example, ` +
      `found bytes that do not parse: ${(err as Error).message}`, { cause: err });
  }
  const image = features.image;
  if (image?.kind !== 'bytes' || image.values.length !== 1) {
    fail(`expected feature 'image' as a bytes_list with one value, found ${describe(image)}`);
  }
  const label = labelOf(features.label, fail);
  if (label >= NUM_CLASSES || label < 0) fail(`expected a label in 0..${NUM_CLASSES - 1}, found ${label}`);
  const height = scalarInt(features.height), width = scalarInt(features.width);
  return { image: (image as { values: Uint8Array[] }).values[0], label, height, width };
}

/** The workshop writes the label as one raw byte; many TF scripts write an int64_list instead. */
function labelOf(f: Feature | undefined, fail: (what: string) => never): number {
  if (f?.kind === 'bytes' && f.values.length === 1 && f.values[0].length === 1) return f.values[0][0];
  if (f?.kind === 'int64' && f.values.length === 1) return f.values[0];
  return fail(`expected feature 'label' as one raw byte (bytes_list) or one int64, found ${describe(f)}`);
}

function scalarInt(f: Feature | undefined): number | undefined {
  return f?.kind === 'int64' && f.values.length === 1 ? f.values[0] : undefined;
}

function describe(f: Feature | undefined): string {
  if (f === undefined) return 'no such feature';
  const sizes = f.kind === 'bytes' ? ` of ${f.values.map((v) => v.length).join(', ')} bytes` : '';
  return `a ${f.kind} list with ${f.values.length} value(s)${sizes}`;
}
