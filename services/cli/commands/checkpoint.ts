// `gantry checkpoint diff|list|show`: inspecting and comparing checkpoints on disk.
// diff exits 0 when every tensor is within tolerance, 1 above it, 2 when the two checkpoints do
// not have the same models, tensors and shapes, when one cannot be read, or on bad usage.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { type Command, CommanderError } from 'commander';
import { listCheckpoints, resolveCheckpoint } from '../../run/checkpoint-list.ts';
import { verifyCheckpoint } from '../../run/checkpoint.ts';
import { RunFileError } from '../../run/errors.ts';
import { DEFAULT_TOLERANCE, diffCheckpoints, diffReportJson, formatDiffText } from '../../run/diff.ts';
import { readManifest } from '../../run/manifest.ts';
import { readSafetensorsHeader } from '../../run/safetensors.ts';
import { numel } from '../../run/tensor-entry.ts';
import { CheckFailed, UsageError } from '../errors.ts';

/**
 * Checkpoints that cannot be compared (different structure, missing or damaged) exit 2 like a
 * usage error, the only class services/cli/errors.ts maps to 2, so that exit 1 always means
 * "compared, and the values differ".
 */
class CannotCompare extends UsageError {}

const warn = (w: string): void => {
  process.stderr.write(`gantry: warning: ${w}\n`);
};

/** Strict parse: a finite number >= 0, written as a plain or exponent literal. */
export function parseTolerance(raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new UsageError(`--tolerance: expected a non-negative number such as 1e-5, got ${JSON.stringify(raw)}`);
  }
  return value;
}

async function runDiff(a: string, b: string, opts: { tolerance?: string; includeOptimizer?: boolean; json?: boolean }): Promise<void> {
  const tolerance = opts.tolerance === undefined ? DEFAULT_TOLERANCE : parseTolerance(opts.tolerance);
  const report = await diffCheckpoints(a, b, { tolerance, includeOptimizer: opts.includeOptimizer ?? false, onWarning: warn }).catch(
    (err: unknown) => {
      if (err instanceof RunFileError) throw new CannotCompare(err.message, { cause: err.cause });
      throw err;
    },
  );
  process.stdout.write(opts.json ? diffReportJson(report) + '\n' : formatDiffText(report));
  if (report.status === 'mismatch') {
    throw new CannotCompare(`checkpoints differ in structure:\n  ${report.mismatches.map((m) => m.message).join('\n  ')}`);
  }
  if (report.status === 'different') {
    const w = report.worst;
    const where = w ? ` (${w.role} ${w.group} tensor "${w.name}")` : '';
    const notes = report.notes.length > 0 ? `; ${report.notes.join('; ')}` : '';
    throw new CheckFailed(`max relative difference ${report.maxRelDiff}${where} exceeds tolerance ${tolerance}${notes}`);
  }
}

async function runList(runDir: string, opts: { verify?: boolean; json?: boolean }): Promise<void> {
  const root = await checkpointsRootOf(runDir);
  const listing = await listCheckpoints(root, { verify: opts.verify ?? false });
  for (const w of listing.warnings) warn(w);
  if (opts.json) {
    const rows = listing.checkpoints.map((c) => ({
      iteration: c.iteration,
      createdAt: c.manifest.createdAt,
      kind: c.manifest.kind,
      models: c.manifest.models.map((m) => m.role),
      path: c.dir,
    }));
    process.stdout.write(JSON.stringify({ root, checkpoints: rows, warnings: listing.warnings }, null, 2) + '\n');
    return;
  }
  if (listing.checkpoints.length === 0) {
    process.stdout.write(`no complete checkpoints in ${root}\n`);
    return;
  }
  const rows = listing.checkpoints.map((c) => [String(c.iteration), c.manifest.createdAt, c.manifest.models.map((m) => m.role).join(','), c.dir]);
  process.stdout.write(table(['iteration', 'time', 'models', 'path'], rows));
}

async function checkpointsRootOf(runDir: string): Promise<string> {
  const stat = await fsp.stat(runDir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UsageError(`RUN_DIR: ${runDir} is not a directory`);
  const sub = path.join(runDir, 'checkpoints');
  return (await fsp.stat(sub).catch(() => undefined))?.isDirectory() ? sub : runDir;
}

async function runShow(dirArg: string, opts: { verify?: boolean; json?: boolean }): Promise<void> {
  const dir = await resolveCheckpoint(dirArg, { onWarning: warn });
  const manifest = opts.verify ? await verifyCheckpoint(dir) : await readManifest(dir);
  const models = [];
  for (const m of manifest.models) {
    const weights = await readSafetensorsHeader(path.join(dir, m.file));
    const optim = await readSafetensorsHeader(path.join(dir, m.optimizerFile));
    const values = weights.entries.reduce((n, e) => n + numel(e.shape), 0);
    const optimizerKind = optim.metadata.optimizer ?? '?';
    models.push({ ...m, tensors: weights.entries.length, values, optimizerSlots: optim.entries.length, optimizerKind });
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dir, verified: opts.verify ?? false, manifest, models }, null, 2) + '\n');
    return;
  }
  const lines = [
    `checkpoint ${dir}`,
    `  ${manifest.format}, kind ${manifest.kind}, iteration ${manifest.iteration}, created ${manifest.createdAt}${opts.verify ? ', sha256 verified' : ''}`,
    `  config keys: ${Object.keys(manifest.config).join(', ') || '(none)'}`,
  ];
  if (manifest.extra) lines.push(`  extra keys: ${Object.keys(manifest.extra).join(', ')}`);
  const rows = models.map((m) => [
    m.role,
    String(m.tensors),
    m.values.toLocaleString('en-US'),
    `${m.optimizerKind} step ${m.optimizerStep}, ${m.optimizerSlots} slots`,
    m.sha256.slice(0, 12),
  ]);
  process.stdout.write(lines.join('\n') + '\n' + table(['model', 'tensors', 'values', 'optimizer', 'sha256'], rows, '  '));
}

function table(header: string[], rows: string[][], indent = ''): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => indent + r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** commander's own usage errors (unknown option, missing argument) exit 2 too; help still exits 0. */
function usageExitsTwo(err: CommanderError): never {
  if (err.exitCode === 0) throw err;
  throw new CommanderError(2, err.code, err.message);
}

export function register(program: Command): void {
  const checkpoint = program.command('checkpoint').description('inspect and compare checkpoints').exitOverride(usageExitsTwo);
  checkpoint
    .command('diff')
    .description('compare two checkpoints (or the latest checkpoints of two run directories) tensor by tensor')
    .argument('<a>', 'checkpoint directory, run directory or checkpoints directory')
    .argument('<b>', 'checkpoint directory, run directory or checkpoints directory')
    .option('--tolerance <t>', `largest max relative difference that passes (default ${DEFAULT_TOLERANCE})`)
    .option('--include-optimizer', 'also compare Adam slots and steps')
    .option('--json', 'print a machine-readable report')
    .action(runDiff);
  checkpoint
    .command('list')
    .description("list a run's complete checkpoints")
    .argument('<run-dir>', 'run directory or checkpoints directory')
    .option('--verify', 'check every file against its sha256 (reads all data)')
    .option('--json', 'print JSON')
    .action(runList);
  checkpoint
    .command('show')
    .description("summarize a checkpoint's manifest (a run directory means its latest checkpoint)")
    .argument('<dir>', 'checkpoint directory or run directory')
    .option('--verify', 'check every file against its sha256 (reads all data)')
    .option('--json', 'print JSON')
    .action(runShow);
}
