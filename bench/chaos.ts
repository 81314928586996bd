// The fault schedule (issue 19, part 4): `npm run chaos -- --trials N --seed S [--kinds K,...]
// [--only I,J,...] [--out DIR]`. A fault-free run of the tiny chaos config (MLP GAN, batch 8, 40
// iterations, a checkpoint every 5) gives the reference weights; then N trials
// (bench/chaos-trial.ts), each a fresh local cluster with seeded faults at a seeded iteration:
// kill -9 of each role, of nats-server and of the launcher (then one --resume), SIGSTOP of each
// process for longer than its deadline, two faults close together, a full checkpoint disk (a 16 MB
// tmpfs; root only, the kind is skipped with a note otherwise). The `workers-*` kinds (only when
// named in --kinds) run the data-parallel classifier instead (2 workers, 40 steps, its own
// fault-free reference). Kinds are dealt in seeded rounds so that N trials cover them evenly;
// --only runs just those trial indices of the same schedule. Prints one line per trial on stderr,
// then one JSON object (per-kind table and every trial) as the last stdout line.
import { mulberry32 } from '../services/data/seed.ts';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifierTrainSchema, ganTrainSchema, parseConfig } from '../services/train/config.ts';
import {
  type Fault, FAULT_KINDS, type FaultKind, isWorkerKind, runClean, runTrial, type TrialPlan, type TrialResult, WORKER_FAULT_KINDS,
} from './chaos-trial.ts';

export const CHAOS_ITERATIONS = 40;
const PROCESS_TARGETS = ['generator', 'discriminator', 'scheduler', 'nats'] as const;

function faultsOf(kind: FaultKind, r: () => number): Fault[] {
  const stopMs = 3_000 + Math.round(r() * 4_000); // past the 2 s liveness window and 3 s command deadline
  if (kind === 'disk-full') return [{ action: 'fill', target: 'disk' }];
  if (kind === 'double') {
    const pick = (): Fault => {
      const target = PROCESS_TARGETS[Math.floor(r() * PROCESS_TARGETS.length)];
      return r() < 0.5 ? { action: 'kill', target } : { action: 'stop', target, stopMs };
    };
    const a = pick();
    let b = pick();
    while (b.target === a.target) b = pick();
    return [a, { ...b, delayMs: 200 + Math.round(r() * 1_300) }];
  }
  const [action, target] = kind.replace(/^workers-/, '').split('-') as ['kill' | 'stop', Fault['target']];
  return [action === 'stop' ? { action, target, stopMs } : { action, target }];
}

export function schedule(trials: number, seed: number, kinds: readonly FaultKind[]): TrialPlan[] {
  const r = mulberry32(seed); // the schedule's draws (not training's)
  const plans: TrialPlan[] = [];
  let round: FaultKind[] = [];
  for (let i = 0; i < trials; i++) {
    if (round.length === 0) round = [...kinds].sort(() => r() - 0.5);
    const kind = round.shift()!;
    plans.push({ kind, atIteration: 6 + Math.floor(r() * 24), faults: faultsOf(kind, r) });
  }
  return plans;
}

export interface KindRow {
  trials: number; finishedWithoutHelp: number; finishedAfterResume: number; identical: number;
  blameCorrect: number; missedBlame: number; worstDetectMs: number | null; worstRecoverMs: number | null; skipped: number;
  /** Largest |difference| of a final weight or optimizer element from the fault-free run, over the kind's trials. */
  worstMaxAbsDiff: number | null;
}

export function table(results: TrialResult[]): Record<string, KindRow> {
  const rows: Record<string, KindRow> = {};
  for (const t of results) {
    const row = rows[t.kind] ??= {
      trials: 0, finishedWithoutHelp: 0, finishedAfterResume: 0, identical: 0, blameCorrect: 0, missedBlame: 0, worstDetectMs: null, worstRecoverMs: null, skipped: 0, worstMaxAbsDiff: null,
    };
    row.trials++;
    if (t.note?.startsWith('skipped')) { row.skipped++; continue; }
    if (t.finishedWithoutHelp) row.finishedWithoutHelp++;
    if (t.finishedAfterResume) row.finishedAfterResume++;
    if (t.identical) row.identical++;
    if (t.blameCorrect) row.blameCorrect++;
    if (t.missed.length > 0) row.missedBlame++;
    if (t.detectMs !== null) row.worstDetectMs = Math.max(row.worstDetectMs ?? 0, t.detectMs);
    if (t.recoverMs !== null) row.worstRecoverMs = Math.max(row.worstRecoverMs ?? 0, t.recoverMs);
    if (t.maxAbsDiff !== null) row.worstMaxAbsDiff = Math.max(row.worstMaxAbsDiff ?? 0, t.maxAbsDiff);
  }
  return rows;
}

export interface ChaosOptions {
  trials: number; seed: number; kinds: readonly FaultKind[]; out: string; log?: (line: string) => void;
  /** Run only these trial indices of the schedule (0-based; the plans stay those of the full schedule). */
  only?: ReadonlySet<number>;
}

export async function runChaos(o: ChaosOptions): Promise<{ seed: number; trials: number; byKind: Record<string, KindRow>; results: TrialResult[]; seconds: number }> {
  const t0 = Date.now();
  const config = parseConfig(ganTrainSchema, {
    preset: 'mlp', zDim: 16, gWidth: 32, dWidth: 32, batchSize: 8, backend: 'wasm', seed: o.seed,
    iterations: CHAOS_ITERATIONS, sampleEvery: 20, checkpointEvery: 5, keepCheckpoints: 2,
  }, 'chaos config');
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const env = {
    generator: common, discriminator: common,
    scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: '3000', GANTRY_LIVENESS_MS: '2000', GANTRY_RECOVERY_TIMEOUT_MS: '60000' },
  };
  const plans = schedule(o.trials, o.seed, o.kinds).map((plan, i) => ({ plan, i })).filter(({ i }) => !o.only || o.only.has(i));
  // Each family's fault-free run, only when one of its kinds is planned.
  const gan = plans.some(({ plan }) => !isWorkerKind(plan.kind)) ? { config, env, baseline: await runClean(path.join(o.out, 'baseline'), config, env) } : undefined;
  const workers = plans.some(({ plan }) => isWorkerKind(plan.kind)) ? await workersBaseline(o) : undefined;
  const results: TrialResult[] = [];
  for (const { plan, i } of plans) {
    const family = isWorkerKind(plan.kind) ? { family: 'workers' as const, ...workers! } : { family: 'gan' as const, ...gan! };
    const r = await runTrial(plan, { dir: path.join(o.out, `trial-${String(i).padStart(3, '0')}`), ...family });
    results.push(r);
    o.log?.(`[chaos] ${i + 1}/${o.trials} ${r.kind} at ${r.atIteration}: ${r.finishedWithoutHelp ? 'healed' : r.finishedAfterResume ? 'finished after resume' : 'NOT finished'}` +
      `, identical ${r.identical}, detect ${r.detectMs ?? '-'} ms, recover ${r.recoverMs ?? '-'} ms, faulted ${r.faulted.join('+')}, blamed ${r.blamed.join('+') || '-'}` +
      `${r.note ? ` (${r.note})` : ''}`);
  }
  return { seed: o.seed, trials: results.length, byKind: table(results), results, seconds: (Date.now() - t0) / 1000 };
}

/**
 * The data-parallel classifier kinds: 2 workers of the quick preset, 40 steps, a checkpoint every
 * 5, liveness 2 s; the same seed as the schedule. Exact sums over 2 micro-batches: a group that
 * shrinks to 1 computes the same bits, so every kind is held to the fault-free weights exactly.
 * Its fault-free run gives the reference.
 */
async function workersBaseline(o: ChaosOptions): Promise<{ config: ReturnType<typeof classifierTrainSchema.parse>; env: Record<string, Record<string, string>>; baseline: string }> {
  const config = parseConfig(classifierTrainSchema, {
    preset: 'quick', workers: 2, batchSize: 32, maxSteps: CHAOS_ITERATIONS, checkpointEvery: 5, keepCheckpoints: 2, evalEvery: CHAOS_ITERATIONS,
    validationSize: 500, seed: o.seed, microBatches: 2,
  }, 'chaos workers config');
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const env = {
    scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: '10000', GANTRY_LIVENESS_MS: '2000' },
    worker: { ...common, GANTRY_RPC_TIMEOUT_MS: '10000' },
  };
  return { config, env, baseline: await runClean(path.join(o.out, 'baseline-workers'), config, env, 'workers') };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function intFlag(name: string, fallback: number, min: number): number {
  const raw = flag(name);
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}: expected an integer >= ${min}, found ${raw}`);
  return v;
}

async function main(): Promise<void> {
  const kinds = (flag('--kinds')?.split(',') ?? [...FAULT_KINDS]) as FaultKind[];
  const known: readonly string[] = [...FAULT_KINDS, ...WORKER_FAULT_KINDS];
  const bad = kinds.find((k) => !known.includes(k));
  if (bad) throw new Error(`--kinds: expected a comma list of ${known.join(', ')}, found ${JSON.stringify(bad)}`);
  const trials = intFlag('--trials', FAULT_KINDS.length, 1);
  const onlyRaw = flag('--only');
  const only = onlyRaw === undefined ? undefined : new Set(onlyRaw.split(',').map(Number));
  const outside = only && [...only].find((i) => !Number.isInteger(i) || i < 0 || i >= trials);
  if (outside !== undefined) throw new Error(`--only: expected a comma list of trial indices in [0, ${trials - 1}], found ${JSON.stringify(onlyRaw)}`);
  const keep = flag('--out');
  const out = keep ? path.resolve(keep) : await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-chaos-'));
  try {
    const report = await runChaos({
      trials, seed: intFlag('--seed', 1, 0), kinds, out, only,
      log: (line) => process.stderr.write(line + '\n'),
    });
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    if (!keep) await fsp.rm(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  await main().catch((err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
