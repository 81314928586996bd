// Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename it
// over the target, fsync the directory. A reader sees either the old file or the whole new one,
// never a prefix, because rename(2) within one file system is atomic.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { RunWriteError } from './errors.ts';

/** A name beside `target` that no other writer picks and that loaders never mistake for data. */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  return path.join(dir, `.${base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Flushes a directory's entries (a rename or create inside it) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `target` with `chunks` written in order (no concatenated copy of large tensors). A
 * failure (a full disk...) is a RunWriteError naming `target`; the temporary file is removed and
 * the old `target` is untouched.
 */
export async function writeFileAtomic(
  target: string,
  chunks: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  try {
    await writeReplacing(target, chunks);
  } catch (err) {
    throw RunWriteError.of(target, err);
  }
}

async function writeReplacing(target: string, chunks: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
  const parts = typeof chunks === 'string' ? [Buffer.from(chunks, 'utf8')] : chunks instanceof Uint8Array ? [chunks] : chunks;
  const tmp = tempPathFor(target);
  const fh = await fsp.open(tmp, 'w');
  try {
    for (const part of parts) {
      let written = 0;
      while (written < part.byteLength) {
        const { bytesWritten } = await fh.write(part, written, part.byteLength - written);
        written += bytesWritten;
      }
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(target));
}

/** JSON with a trailing newline, two-space indented, written atomically. */
export async function writeJsonAtomic(target: string, value: unknown): Promise<void> {
  await writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}
