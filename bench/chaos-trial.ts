// One trial of the fault schedule (bench/chaos.ts): a local cluster of the tiny chaos config, run
// by its own launcher process (bench/chaos-launcher.ts), one or two seeded faults at a seeded
// iteration, then whatever it takes to finish without a person: nothing (the cluster heals), or
// one `--resume` (the launcher itself was killed, or the run stopped on a full disk whose space
// then came back). The trial's final checkpoint is then diffed against the fault-free run's
// (tolerance 0, optimizer state included).
//
// What is measured, from the JSON log lines (each line's own `ts`):
//   detect:  fault -> the first line that blames someone (BLAME below);
//   recover: fault -> the first progress event, after the detection (and from the resumed
//            launcher when one was needed), past the iteration the run was at when faulted;
//   blamed:  who those lines blame, vs the faulted targets.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { diffCheckpoints } from '../services/run/diff.ts';
import type { ClassifierTrainConfig, GanTrainConfig } from '../services/train/config.ts';
import { fillDisk } from '../test/harness/disk.ts';

const LAUNCHER = fileURLToPath(new URL('./chaos-launcher.ts', import.meta.url));
const RUN_LIMIT_MS = 180_000;

export const FAULT_KINDS = [
  'kill-generator', 'kill-discriminator', 'kill-scheduler', 'kill-nats', 'kill-launcher',
  'stop-generator', 'stop-discriminator', 'stop-scheduler', 'stop-nats', 'double', 'disk-full',
] as const;
/**
 * Faults of a data-parallel classifier run (LocalWorkers, N workers): kill -9 or SIGSTOP (past the
 * liveness deadline) of one worker, after which the group goes on with N - 1 (a stopped one may
 * join again when it runs); kill -9 of nats-server or of the classifier scheduler, and SIGSTOP of
 * the scheduler or of nats-server past the workers' liveness deadline (no worker is blamed for
 * the heartbeats nobody could read), after which the membership stays at N. Not in the default schedule (its plans
 * stay those of the GAN kinds).
 */
export const WORKER_FAULT_KINDS = ['workers-kill-worker', 'workers-stop-worker', 'workers-kill-nats', 'workers-kill-scheduler', 'workers-stop-scheduler', 'workers-stop-nats'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof WORKER_FAULT_KINDS)[number];
export type Target = 'generator' | 'discriminator' | 'scheduler' | 'nats' | 'launcher' | 'disk' | 'worker';

export function isWorkerKind(kind: FaultKind): boolean {
  return (WORKER_FAULT_KINDS as readonly string[]).includes(kind);
}

/** One fault: what, to whom, when (iteration; `delayMs` after the previous fault of the trial). */
export interface Fault { action: 'kill' | 'stop' | 'fill'; target: Target; stopMs?: number; delayMs?: number }
/** atIteration >= 6: the checkpoint of iteration 5 is complete before any fault (one to keep). */
export interface TrialPlan { kind: FaultKind; atIteration: number; faults: Fault[] }

export interface TrialResult {
  kind: FaultKind;
  atIteration: number;
  faults: Fault[];
  finishedWithoutHelp: boolean;
  finishedAfterResume: boolean;
  identical: boolean;
  /** Largest |difference| of any weight or optimizer element from the fault-free run; null when not compared. */
  maxAbsDiff: number | null;
  detectMs: number | null;
  recoverMs: number | null;
  faulted: Target[];
  blamed: string[];
  /** Someone was blamed, and only processes that were faulted. */
  blameCorrect: boolean;
  /** Faulted but never blamed (e.g. a stall hidden inside the scheduler's own stall). */
  missed: Target[];
  seconds: number;
  /** Why the trial did not finish or differs, or a note (a skipped kind). */
  note?: string;
}

/** Log lines that blame a process, and whom. */
const BLAME: { re: RegExp; who: (m: RegExpExecArray) => string }[] = [
  { re: /"msg":"(generator|discriminator) is dead/, who: (m) => m[1] },
  { re: /"msg":"(generator|discriminator) stalled:/, who: (m) => m[1] },
  { re: /"msg":"worker-\d+ exited/, who: () => 'worker' },
  { re: /"msg":"worker stalled/, who: () => 'worker' },
  { re: /"msg":"the (generator|discriminator|scheduler) exited/, who: (m) => m[1] },
  { re: /"msg":"nats-server exited/, who: () => 'nats' },
  { re: /"msg":"NATS (does not answer|disconnected|connection stale)/, who: () => 'nats' },
  { re: /"msg":"the scheduler itself did not run/, who: () => 'scheduler' },
  { re: /cannot write \//, who: () => 'disk' },
];

interface Line { at: number; text: string }

interface Launch {
  proc: ChildProcess;
  exited: Promise<number | null>;
  pids: Map<Target, number>;
  allPids: number[];
  iteration: () => number;
  /** Resolves once the run's progress reaches `iteration` (or the launcher exits: false). */
  reach: (iteration: number) => Promise<boolean>;
  progress: { at: number; iteration: number }[];
  result: () => { summary?: unknown; error?: { message: string } } | undefined;
}

function launch(configFile: string, env: Record<string, Record<string, string>>, lines: Line[], family: Family): Launch {
  const proc = spawn(process.execPath, ['--import', 'tsx', LAUNCHER, configFile, ...(family === 'workers' ? ['workers'] : [])], {
    env: { ...process.env, GANTRY_LOG_FORMAT: 'json', GANTRY_CHAOS_ENV: JSON.stringify(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const pids = new Map<Target, number>([['launcher', proc.pid!]]);
  const allPids: number[] = [proc.pid!];
  const progress: { at: number; iteration: number }[] = [];
  let iteration = 0;
  let last: { summary?: unknown; error?: { message: string } } | undefined;
  const waiters = new Set<() => void>();
  readline.createInterface({ input: proc.stderr! }).on('line', (text) => lines.push({ at: Date.now(), text }));
  readline.createInterface({ input: proc.stdout! }).on('line', (text) => {
    const msg = JSON.parse(text) as { event?: { type: string; pid?: number; role?: Target; iteration?: number; status?: string }; summary?: unknown; error?: { message: string } };
    const e = msg.event;
    if (e?.type === 'spawn' && e.role) { pids.set(e.role, e.pid!); allPids.push(e.pid!); }
    if (e?.type === 'nats') { pids.set('nats', e.pid!); allPids.push(e.pid!); }
    if (e?.type === 'progress' && e.status === 'running') {
      iteration = e.iteration ?? iteration;
      progress.push({ at: Date.now(), iteration });
    }
    if (msg.summary || msg.error) last = msg;
    for (const w of [...waiters]) w();
  });
  void exited.then(() => { for (const w of [...waiters]) w(); });
  const reach = (target: number): Promise<boolean> => new Promise((resolve) => {
    const check = (): void => {
      if (iteration >= target) { waiters.delete(check); resolve(true); }
      else if (proc.exitCode !== null || proc.signalCode !== null) { waiters.delete(check); resolve(false); }
    };
    waiters.add(check);
    check();
  });
  return { proc, exited, pids, allPids, iteration: () => iteration, reach, progress, result: () => last };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    // already gone
  }
}

/** Applies one fault; resolves when it is over (a stopped process continued). */
async function apply(f: Fault, l: Launch, checkpointsDir: string): Promise<void> {
  if (f.action === 'fill') return fillDisk(checkpointsDir);
  const pid = l.pids.get(f.target);
  if (pid === undefined) return;
  const group = f.target === 'nats'; // the watchdog shell and nats-server
  if (f.action === 'kill') return signal(pid, 'SIGKILL', group);
  signal(pid, 'SIGSTOP', group);
  await sleep(f.stopMs ?? 5_000);
  signal(pid, 'SIGCONT', group);
}

function lineTime(l: Line): number {
  const i = l.text.indexOf('{');
  if (i >= 0) {
    try {
      const ts = (JSON.parse(l.text.slice(i)) as { ts?: string }).ts;
      if (ts) return Date.parse(ts);
    } catch {
      // not a JSON log line
    }
  }
  return l.at;
}

/** Which launcher a trial runs: the GAN's local cluster, or the data-parallel classifier's workers. */
export type Family = 'gan' | 'workers';

export interface TrialSetup {
  dir: string;
  family: Family;
  config: GanTrainConfig | ClassifierTrainConfig;
  env: Record<string, Record<string, string>>;
  /** The fault-free run's final checkpoint. */
  baseline: string;
}

export async function runTrial(plan: TrialPlan, setup: TrialSetup): Promise<TrialResult> {
  const t0 = Date.now();
  const runDir = path.join(setup.dir, 'run');
  const checkpoints = path.join(runDir, 'checkpoints');
  const result: TrialResult = {
    kind: plan.kind, atIteration: plan.atIteration, faults: plan.faults, finishedWithoutHelp: false, finishedAfterResume: false,
    identical: false, maxAbsDiff: null, detectMs: null, recoverMs: null, faulted: plan.faults.map((f) => f.target), blamed: [], blameCorrect: false, missed: [], seconds: 0,
  };
  let mounted = false;
  if (plan.faults.some((f) => f.action === 'fill')) {
    await fsp.mkdir(checkpoints, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', checkpoints], { stdio: 'pipe' });
      mounted = true;
    } catch (err) {
      result.note = `skipped: cannot mount a tmpfs for the full disk (needs root): ${(err as Error).message.split('\n')[0]}`;
      return result;
    }
  }
  try {
    await runFaulted(plan, setup, runDir, checkpoints, result);
  } finally {
    if (mounted) execFileSync('umount', ['-l', checkpoints]);
    result.seconds = (Date.now() - t0) / 1000;
  }
  return result;
}

async function runFaulted(plan: TrialPlan, setup: TrialSetup, runDir: string, checkpoints: string, result: TrialResult): Promise<void> {
  const configFile = path.join(setup.dir, 'config.json');
  await fsp.mkdir(setup.dir, { recursive: true });
  await fsp.writeFile(configFile, JSON.stringify({ ...setup.config, out: runDir }));
  const lines: Line[] = [];
  const first = launch(configFile, setup.env, lines, setup.family);
  const killTimer = setTimeout(() => signal(first.proc.pid!, 'SIGKILL', false), RUN_LIMIT_MS);
  let faultAt = 0;
  let faultIteration = 0;
  if (await first.reach(plan.atIteration)) {
    faultAt = Date.now();
    faultIteration = first.iteration();
    const running: Promise<void>[] = [];
    for (const f of plan.faults) {
      if (f.delayMs) await sleep(f.delayMs);
      running.push(apply(f, first, checkpoints));
    }
    await Promise.all(running);
  }
  const code = await first.exited;
  clearTimeout(killTimer);
  let progress = first.progress;
  if (code === 0) {
    result.finishedWithoutHelp = true;
  } else {
    // One --resume, as a person would: after the old processes are gone, and with the disk's
    // space back (the filler removed).
    for (let i = 0; i < 100 && first.allPids.some(isAlive); i++) await sleep(100);
    await fsp.rm(path.join(checkpoints, 'filler'), { force: true });
    await fsp.writeFile(configFile, JSON.stringify({ ...setup.config, out: runDir, resume: true }));
    const second = launch(configFile, setup.env, lines, setup.family);
    const timer = setTimeout(() => signal(second.proc.pid!, 'SIGKILL', false), RUN_LIMIT_MS);
    const again = await second.exited;
    clearTimeout(timer);
    progress = second.progress; // the run is back only once the resumed launcher trains
    result.finishedAfterResume = again === 0;
    if (again !== 0) result.note = `the resumed run failed too: ${second.result()?.error?.message ?? `exit ${again}`}`;
    for (let i = 0; i < 50 && second.allPids.some(isAlive); i++) await sleep(100);
  }
  if (faultAt === 0) {
    result.note = `the run ended before iteration ${plan.atIteration}: ${first.result()?.error?.message ?? 'no fault applied'}`;
    return;
  }
  measure(result, lines, progress, faultAt, faultIteration);
  if (result.finishedWithoutHelp || result.finishedAfterResume) {
    const final = path.join(checkpoints, path.basename(setup.baseline));
    try {
      const diff = await diffCheckpoints(setup.baseline, final, { tolerance: 0 });
      result.identical = diff.status === 'equal' && diff.maxAbsDiff === 0;
      result.maxAbsDiff = diff.maxAbsDiff;
      if (!result.identical) result.note = `final weights differ from the fault-free run (max abs diff ${diff.maxAbsDiff})`;
    } catch (err) {
      result.note = `cannot diff the final checkpoint: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  if (!result.finishedWithoutHelp && !result.finishedAfterResume && !result.note) {
    result.note = `did not finish: ${first.result()?.error?.message ?? `launcher exit ${code}`}`;
  }
}

function measure(result: TrialResult, lines: Line[], progress: { at: number; iteration: number }[], faultAt: number, faultIteration: number): void {
  const blames: { at: number; who: string }[] = [];
  for (const l of lines) {
    const at = lineTime(l);
    if (at < faultAt) continue;
    for (const b of BLAME) {
      const m = b.re.exec(l.text);
      if (m) { blames.push({ at, who: b.who(m) }); break; }
    }
  }
  const launcherKilled = result.faulted.includes('launcher');
  if (launcherKilled) blames.unshift({ at: faultAt, who: 'launcher' }); // detected by the person who resumes
  result.blamed = [...new Set(blames.map((b) => b.who))];
  result.detectMs = blames.length > 0 ? Math.min(...blames.map((b) => b.at)) - faultAt : null;
  const detected = faultAt + (result.detectMs ?? 0);
  const past = progress.find((p) => p.at > detected && p.iteration > faultIteration);
  result.recoverMs = past ? past.at - faultAt : null;
  const faulted = new Set<string>(result.faulted);
  // A killed launcher takes its children with it: those exits are consequences, not blame.
  const blamed = result.blamed.filter((b) => !(launcherKilled && b !== 'launcher'));
  result.blameCorrect = blamed.length > 0 && blamed.every((b) => faulted.has(b));
  result.missed = result.faulted.filter((f) => !blamed.includes(f));
}

/** The fault-free run of the same config: its final checkpoint (the trials' reference). */
export async function runClean(dir: string, config: GanTrainConfig | ClassifierTrainConfig, env: Record<string, Record<string, string>>, family: Family = 'gan'): Promise<string> {
  const runDir = path.join(dir, 'run');
  const configFile = path.join(dir, 'config.json');
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(configFile, JSON.stringify({ ...config, out: runDir }));
  const lines: Line[] = [];
  const l = launch(configFile, env, lines, family);
  const code = await l.exited;
  if (code !== 0) throw new Error(`the fault-free run failed (exit ${code}): ${l.result()?.error?.message ?? lines.slice(-5).map((x) => x.text).join('\n')}`);
  const last = 'iterations' in config ? config.iterations : config.maxSteps;
  return path.join(runDir, 'checkpoints', `iter-${String(last).padStart(6, '0')}`);
}
