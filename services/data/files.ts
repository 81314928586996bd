// Whole-file reads and writes for dataset files. Datasets are small enough (MNIST train images are
// 47 MB) to hold in memory, and one readFile is far faster than streaming record by record.
// Compression is recognised by content (gzip magic 1f 8b), not by name: people rename files.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { DataError, DataFormatError } from './errors.ts';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

export interface FileBytes {
  /** The (decompressed) contents. */
  bytes: Uint8Array;
  gzipped: boolean;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, gunzipping it when it starts with the gzip magic. */
export async function readMaybeGzip(path: string): Promise<FileBytes> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    throw new DataError(path, `${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (!isGzip(raw)) return { bytes: plain(raw), gzipped: false };
  try {
    return { bytes: plain(await gunzipAsync(raw)), gzipped: true };
  } catch (err) {
    throw new DataFormatError(path, `${path}: expected a valid gzip stream (starts with 1f 8b), ` +
      `found a damaged one: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes chunks to `path` (gzipped on request) via a temporary name, so readers never see half a file. */
export async function writeFileAtomic(path: string, chunks: Uint8Array[], opts: { gzip?: boolean } = {}): Promise<void> {
  let body: Uint8Array = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  if (opts.gzip) body = await gzipAsync(body);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, body);
  await rename(tmp, path);
}

/** A plain Uint8Array view of a Buffer (no copy), so callers never depend on Buffer methods. */
function plain(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
