// A full disk on demand: the write-error test and the chaos schedule's full-disk kind fill a small
// tmpfs this way.
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Writes zeros into `dir`/filler until the file system is full (ENOSPC); other errors throw. */
export function fillDisk(dir: string): void {
  const fd = openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
