// Everything a report shows, read from a run directory (run-directory contract): run.json,
// config.json, metrics.jsonl and the sample grids in samples/. A missing file leaves its part
// of the report empty (a run that crashed early still gets a report); a damaged one is an error.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseCheckpointDirName } from '../run/checkpoint-paths.ts';
import { readMetrics, type MetricsRecord } from '../run/metrics-log.ts';
import { lineage } from '../run/metrics-lineage.ts';
import { RunDirError } from '../run/errors.ts';

export interface SampleGrid {
  iteration: number;
  file: string;
  /** data:image/png;base64,... */
  dataUri: string;
}

export interface RunData {
  runDir: string;
  kind: 'gan' | 'classifier' | 'unknown';
  runInfo?: Record<string, unknown>;
  config?: Record<string, unknown>;
  metrics: MetricsRecord[];
  samples: SampleGrid[];
  /** Sample grids left out to keep the page small (evenly thinned, the last one always kept). */
  samplesOmitted: number;
  /** Problems worth showing on the page (e.g. an absent metrics log). */
  notes: string[];
}

/** At most this many sample grids are embedded (an 8x8 grid PNG is 20-40 KB). */
export const MAX_SAMPLE_GRIDS = 60;

async function readJsonObject(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RunDirError(file, `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RunDirError(file, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RunDirError(file, `${file}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** `n` of `items`, evenly spaced, first and last included. */
export function thin<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  if (n <= 1) return items.slice(-1);
  return Array.from({ length: n }, (_, i) => items[Math.round((i * (items.length - 1)) / (n - 1))]);
}

/** samples/iter-XXXXXX.png, oldest first, as data URIs. */
async function readSamples(dir: string): Promise<{ grids: SampleGrid[]; omitted: number }> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { grids: [], omitted: 0 };
    throw new RunDirError(dir, `${dir}: cannot list samples: ${(err as Error).message}`, { cause: err });
  }
  const found = names
    .filter((n) => n.endsWith('.png'))
    .map((n) => ({ name: n, parsed: parseCheckpointDirName(n.slice(0, -4)) }))
    .filter((e) => e.parsed && !e.parsed.partial)
    .map((e) => ({ file: path.join(dir, e.name), iteration: e.parsed!.iteration }))
    .sort((a, b) => a.iteration - b.iteration);
  const kept = thin(found, MAX_SAMPLE_GRIDS);
  const grids: SampleGrid[] = [];
  for (const s of kept) {
    const bytes = await fsp.readFile(s.file);
    grids.push({ ...s, dataUri: `data:image/png;base64,${bytes.toString('base64')}` });
  }
  return { grids, omitted: found.length - kept.length };
}

function kindOf(runInfo: Record<string, unknown> | undefined, metrics: MetricsRecord[]): RunData['kind'] {
  if (runInfo?.kind === 'gan' || runInfo?.kind === 'classifier') return runInfo.kind;
  if (metrics.some((m) => m.kind === 'train' && 'lossD' in m)) return 'gan';
  if (metrics.some((m) => m.kind === 'validation' || m.kind === 'test')) return 'classifier';
  return 'unknown';
}

export async function collectRunData(runDir: string): Promise<RunData> {
  const root = path.resolve(runDir);
  const stat = await fsp.stat(root).catch(() => undefined);
  if (!stat?.isDirectory()) throw new RunDirError(root, `${runDir}: not a run directory (no such directory)`);
  const notes: string[] = [];
  const runInfo = await readJsonObject(path.join(root, 'run.json'));
  if (!runInfo) notes.push('run.json is missing: backend and timings unknown');
  const config = await readJsonObject(path.join(root, 'config.json'));
  if (!config) notes.push('config.json is missing');
  const metricsFile = path.join(root, 'metrics.jsonl');
  const hasMetrics = await fsp.stat(metricsFile).then(() => true, () => false);
  const metrics = hasMetrics ? lineage(await readMetrics(metricsFile)) : [];
  if (!hasMetrics) notes.push('metrics.jsonl is missing: no curves');
  const { grids, omitted } = await readSamples(path.join(root, 'samples'));
  return { runDir: root, kind: kindOf(runInfo, metrics), runInfo, config, metrics, samples: grids, samplesOmitted: omitted, notes };
}
