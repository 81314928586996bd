// The run directory: where one training run keeps its config, state, metrics, samples and
// checkpoints (layout in the run-directory contract). A fresh run never writes into a non-empty
// directory; a resumed run reuses its own, of the same kind.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from './atomic-file.ts';
import { checkpointDirName } from './checkpoint-paths.ts';
import { RunDirError } from './errors.ts';

export type RunKind = 'gan' | 'classifier';

export interface RunDir {
  root: string;
  kind: RunKind;
  config: string;
  runInfo: string;
  metrics: string;
  samples: string;
  checkpoints: string;
  report: string;
}

const runInfoSchema = z.looseObject({
  kind: z.enum(['gan', 'classifier']),
  backend: z.looseObject({ name: z.string(), device: z.string() }),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  status: z.enum(['running', 'completed', 'failed', 'stopped']),
  /** Seconds per phase (setup, training, evaluation, ...). */
  timings: z.record(z.string(), z.number()),
  /** Set when status is 'failed'. */
  error: z.string().optional(),
  /** The checkpoint a resumed run started from. */
  resumedFrom: z.string().optional(),
});

export type RunInfo = z.infer<typeof runInfoSchema>;
export type RunStatus = RunInfo['status'];

export function runDirPaths(root: string, kind: RunKind): RunDir {
  return {
    root,
    kind,
    config: path.join(root, 'config.json'),
    runInfo: path.join(root, 'run.json'),
    metrics: path.join(root, 'metrics.jsonl'),
    samples: path.join(root, 'samples'),
    checkpoints: path.join(root, 'checkpoints'),
    report: path.join(root, 'report.html'),
  };
}

/** samples/iter-000100.png */
export function samplePath(run: RunDir, iteration: number): string {
  return path.join(run.samples, `${checkpointDirName(iteration)}.png`);
}

/** Local time as YYYYmmdd-HHMMSS. */
export function timestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * What a run has written in `root`: its entries except the launcher's CLUSTER_DIR and an empty
 * samples/ or checkpoints/ (e.g. a volume mounted there for the checkpoints).
 */
async function writtenEntries(root: string): Promise<string[] | undefined> {
  const entries = await entriesOf(root);
  if (!entries) return undefined;
  const written: string[] = [];
  for (const e of entries) {
    if (e === CLUSTER_DIR) continue;
    if ((e === 'checkpoints' || e === 'samples') && (await entriesOf(path.join(root, e)).catch(() => undefined))?.length === 0) continue;
    written.push(e);
  }
  return written;
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RunDirError(dir, `${dir}: not a usable directory (${code ?? (err as Error).message})`, { cause: err });
  }
}

/** First of runs/<kind>-<stamp>, -2, -3, ... that does not exist or is empty. */
async function defaultRoot(baseDir: string, kind: RunKind, now: Date): Promise<string> {
  const stem = path.join(baseDir, `${kind}-${timestamp(now)}`);
  for (let i = 1; ; i++) {
    const candidate = i === 1 ? stem : `${stem}-${i}`;
    const entries = await entriesOf(candidate);
    if (!entries || entries.length === 0) return candidate;
  }
}

export interface CreateRunDirOptions {
  /** Reuse an existing run directory (its run.json, if any, must be of the same kind). */
  resume?: boolean;
  /** Parent of default run directories (default ./runs). */
  baseDir?: string;
  now?: Date;
}

/**
 * The local launcher's own files inside a run directory (nats-server's JetStream store, the
 * scheduler's config file, Prometheus' data): they live as long as the launcher, and a run
 * directory holding only this is still a fresh one.
 */
export const CLUSTER_DIR = '.cluster';

/** Creates (or, resuming, reopens) a run directory with its samples/ and checkpoints/. */
export async function createRunDir(dir: string | undefined, kind: RunKind, opts: CreateRunDirOptions = {}): Promise<RunDir> {
  if (opts.resume && dir === undefined) throw new RunDirError('.', 'resuming needs the run directory to resume');
  const root = path.resolve(dir ?? (await defaultRoot(opts.baseDir ?? 'runs', kind, opts.now ?? new Date())));
  const entries = await writtenEntries(root);
  if (opts.resume) {
    if (!entries) throw new RunDirError(root, `${root}: cannot resume: no such run directory`);
    await checkResumedKind(root, kind);
  } else if (entries && entries.length > 0) {
    throw new RunDirError(root, `${root}: exists and is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); resume it or choose another directory`);
  }
  const run = runDirPaths(root, kind);
  await fsp.mkdir(run.samples, { recursive: true });
  await fsp.mkdir(run.checkpoints, { recursive: true });
  return run;
}

async function checkResumedKind(root: string, kind: RunKind): Promise<void> {
  const info = await readRunInfo(runDirPaths(root, kind)).catch((err: unknown) => {
    if (err instanceof RunDirError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info && info.kind !== kind) throw new RunDirError(root, `${root}: cannot resume a ${info.kind} run as a ${kind} run`);
}

/** config.json: the resolved, validated config. */
export async function writeConfig(run: RunDir, config: unknown): Promise<void> {
  await writeJsonAtomic(run.config, config);
}

export async function readConfig(run: RunDir): Promise<Record<string, unknown>> {
  const raw = await readJson(run.config);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RunDirError(run.config, `${run.config}: expected a JSON object`);
  return raw as Record<string, unknown>;
}

export async function writeRunInfo(run: RunDir, info: RunInfo): Promise<void> {
  await writeJsonAtomic(run.runInfo, parseRunInfo(info, run.runInfo));
}

export async function readRunInfo(run: RunDir): Promise<RunInfo> {
  return parseRunInfo(await readJson(run.runInfo), run.runInfo);
}

/** Shallow merge into run.json (timings merge key by key); returns what was written. */
export async function updateRunInfo(run: RunDir, patch: Partial<RunInfo>): Promise<RunInfo> {
  const prev = await readRunInfo(run);
  const next: RunInfo = { ...prev, ...patch, timings: { ...prev.timings, ...patch.timings } };
  await writeRunInfo(run, next);
  return next;
}

function parseRunInfo(raw: unknown, file: string): RunInfo {
  const result = runInfoSchema.safeParse(raw);
  if (!result.success) throw new RunDirError(file, `${file}: invalid run info:\n${z.prettifyError(result.error)}`, { cause: result.error });
  return result.data;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new RunDirError(file, `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunDirError(file, `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}
