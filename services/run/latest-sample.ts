// The newest sample grid of a run directory (samples/iter-NNNNNN.png: the zero-padded names sort
// by iteration), for the scheduler's /samples/latest.png route that dashboards show.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

const SAMPLE_NAME = /^iter-\d+\.png$/;

/** The newest grid's bytes, or undefined while samples/ is missing or holds no grid. */
export async function readLatestSample(samplesDir: string): Promise<Buffer | undefined> {
  const names = await fsp.readdir(samplesDir).catch(() => [] as string[]);
  const newest = names.filter((n) => SAMPLE_NAME.test(n)).sort().at(-1);
  if (newest === undefined) return undefined;
  // Grids are written atomically (temp + rename): a file with this name is whole. It may be
  // pruned between readdir and read, which is "not there" too.
  return fsp.readFile(path.join(samplesDir, newest)).catch(() => undefined);
}
