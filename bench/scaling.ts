// Data-parallel classifier throughput: `gantry train classifier --workers N` as a user runs it
// (nats-server, the scheduler and N worker processes, the ring all-reduce over gRPC), at a fixed
// number of images per worker (global batch = perWorker x N), in three configurations:
//   a  1 worker,  1 wasm thread      (the baseline)
//   b  2 workers, 1 wasm thread each (data parallel: target b/a >= 1.8 for workshop)
//   c  1 worker,  2 wasm threads     (the same two cores, shared inside one process instead)
// Each run trains warm-up + timed steps; the timed window is read from the run's metrics.jsonl
// (the scheduler's elapsedSeconds, so NATS round trips and bookkeeping count), then the run is
// interrupted (two SIGTERMs: the launcher stops every child) so that no time goes to the final
// test evaluation. Per step, from the train records: the slowest rank's step seconds and the ranks'
// mean compute, wait on the fused gradient all-reduce and on sync batch norm's collectives; the
// scheduler's share ("other") is the step's wall time minus the slowest rank's step. The CPU time
// of all the run's processes over the window (from /proc) says how many cores the run really got:
// on a shared machine, 2 workers need 2 free cores to be twice as fast.
// Rounds alternate the configurations (a, b, c per preset, then the next round) so that a change
// of load on this shared machine hits all of them alike; figures are medians over rounds and the
// ratios medians of the per-round ratios, with their spread (min..max).
// Usage: npm run bench -- scaling [--rounds 3] [--steps 6] [--warmup 2] [--presets workshop,quick]
//        [--per-worker 64] [--configs a,b,c[,n3,n4]]
// Prints progress on stderr and one JSON object as the last stdout line.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMetrics } from '../services/run/metrics-log.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const rounds = Number(opt('rounds', '3'));
const steps = Number(opt('steps', '6'));
const warmup = Number(opt('warmup', '2'));
const perWorker = Number(opt('per-worker', '64'));
const presets = opt('presets', 'workshop,quick').split(',');
// a, b, c as above; nK: K workers of one thread each (the cost model's N = 3, 4 on this machine).
const CONFIGS: Record<string, { workers: number; threads: number }> = { a: { workers: 1, threads: 1 }, b: { workers: 2, threads: 1 }, c: { workers: 1, threads: 2 } };
type ConfigName = string;
const configs = opt('configs', 'a,b,c').split(',');
for (const c of configs) {
  const k = /^n([1-9]\d?)$/.exec(c);
  if (k) CONFIGS[c] = { workers: Number(k[1]), threads: 1 };
  else if (!(c in CONFIGS)) throw new RangeError(`--configs: expected a, b, c or nK (K workers, one thread each), found "${c}"`);
}
if (!(steps >= 1 && warmup >= 1 && rounds >= 1)) throw new RangeError('--steps, --warmup and --rounds: expected integers >= 1');
const GANTRY_BIN = fileURLToPath(new URL('../bin/gantry.js', import.meta.url));
const RUN_LIMIT_MS = 20 * 60_000;
const log = (s: string): void => void process.stderr.write(s + '\n');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x: number): number => +x.toFixed(3);

/** One timed window of a run: images/s and the mean per-step breakdown (seconds). */
interface Sample {
  imagesPerSecond: number;
  wallSeconds: number;
  stepSeconds: number;
  computeSeconds: number;
  gradsWaitSeconds: number;
  syncBnWaitSeconds: number;
  otherSeconds: number;
  waitShare: number;
  collectives: number;
  /** CPU seconds per step of every process of the run (cores it got = cpuSeconds / wallSeconds). */
  cpuSeconds: number;
}

interface TrainRecord {
  kind: string; step: number; elapsedSeconds: number; waitShare: number; stepSeconds: number; computeSeconds: number;
  gradsWaitSeconds: number; syncBnWaitSeconds: number; collectives: number;
}

async function trainRecords(file: string): Promise<TrainRecord[]> {
  try {
    return (await readMetrics(file)).filter((m) => m.kind === 'train') as unknown as TrainRecord[];
  } catch {
    return []; // not written yet
  }
}

/**
 * CPU seconds (user + system) of `root` and every process below it (the launcher, nats-server, the
 * scheduler, the workers), from /proc; 0 where /proc is missing. With the wall time of the same
 * window it says how many cores the run actually got on this shared machine.
 */
async function treeCpuSeconds(root: number): Promise<number> {
  let entries: string[];
  try {
    entries = (await fsp.readdir('/proc')).filter((e) => /^\d+$/.test(e));
  } catch {
    return 0;
  }
  const stats = new Map<number, { ppid: number; ticks: number }>();
  await Promise.all(entries.map(async (pid) => {
    try {
      const text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
      stats.set(Number(pid), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }); // utime, stime
    } catch {
      // exited meanwhile
    }
  }));
  const children = new Map<number, number[]>();
  for (const [pid, st] of stats) children.set(st.ppid, [...(children.get(st.ppid) ?? []), pid]);
  let ticks = 0;
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    ticks += stats.get(pid)?.ticks ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return ticks / CLOCK_TICKS;
}
const CLOCK_TICKS = 100; // Linux USER_HZ (getconf CLK_TCK)

/** Runs the real CLI until `warmup + steps` steps are recorded, then stops it; returns the timed window. */
async function runOnce(preset: string, name: ConfigName, round: number): Promise<Sample> {
  const { workers, threads } = CONFIGS[name];
  const out = await fsp.mkdtemp(path.join(tmpdir(), `gantry-scaling-${preset}-${name}-`));
  const want = warmup + steps;
  const argv = [GANTRY_BIN, 'train', 'classifier', '--workers', String(workers), '--preset', preset,
    '--global-batch', String(perWorker * workers), '--max-steps', String(want + 5), '--eval-every', '1000000000',
    '--checkpoint-every', '1000000000', '--validation-size', '100', '--seed', '1', '--backend', 'wasm', '--out', path.join(out, 'run')];
  const logFile = path.join(out, 'launcher.log');
  const fd = await fsp.open(logFile, 'w');
  // Its own process group, so that whatever happens the whole tree can be stopped.
  const child = spawn(process.execPath, argv, {
    env: { ...process.env, GANTRY_WASM_THREADS: String(threads) }, stdio: ['ignore', fd.fd, fd.fd], detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => { code = c; });
  let failed = true;
  try {
    const began = performance.now();
    let records: TrainRecord[] = [];
    let cpuAtWarm: number | undefined;
    let cpuAtEnd = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      records = await trainRecords(path.join(out, 'run', 'metrics.jsonl'));
      if (cpuAtWarm === undefined && records.some((r) => r.step >= warmup)) cpuAtWarm = await treeCpuSeconds(child.pid!);
      if (records.some((r) => r.step >= want)) {
        cpuAtEnd = await treeCpuSeconds(child.pid!);
        break;
      }
      if (code !== undefined) throw new Error(`${preset}/${name}: the run exited with ${code} after ${records.length} steps (log: ${logFile})`);
      if (performance.now() - began > RUN_LIMIT_MS) throw new Error(`${preset}/${name}: no step ${want} within ${RUN_LIMIT_MS / 60_000} min (log: ${logFile})`);
    }
    const byStep = new Map(records.map((r) => [r.step, r]));
    const window = Array.from({ length: steps }, (_, i) => byStep.get(warmup + 1 + i)!);
    if (window.some((r) => r === undefined) || !byStep.get(warmup)) throw new Error(`${preset}/${name}: missing train records (log: ${logFile})`);
    const wall = window[steps - 1].elapsedSeconds - byStep.get(warmup)!.elapsedSeconds;
    const mean = (f: (r: TrainRecord) => number): number => window.reduce((a, r) => a + f(r), 0) / steps;
    const s: Sample = {
      imagesPerSecond: (steps * perWorker * workers) / wall, wallSeconds: wall / steps,
      stepSeconds: mean((r) => r.stepSeconds), computeSeconds: mean((r) => r.computeSeconds),
      gradsWaitSeconds: mean((r) => r.gradsWaitSeconds), syncBnWaitSeconds: mean((r) => r.syncBnWaitSeconds),
      otherSeconds: wall / steps - mean((r) => r.stepSeconds), waitShare: mean((r) => r.waitShare), collectives: window[0].collectives,
      // Sampled when the poll saw the records (every 100 ms): close to the window for windows of seconds.
      cpuSeconds: (cpuAtEnd - (cpuAtWarm ?? cpuAtEnd)) / steps,
    };
    log(`round ${round + 1} ${preset} ${name} (${workers} worker(s) x ${threads} thread(s)): ${s.imagesPerSecond.toFixed(1)} images/s, ` +
      `step ${(1000 * s.wallSeconds).toFixed(0)} ms = compute ${(1000 * s.computeSeconds).toFixed(0)} + grads all-reduce ` +
      `${(1000 * s.gradsWaitSeconds).toFixed(0)} + sync-BN ${(1000 * s.syncBnWaitSeconds).toFixed(0)} + other ${(1000 * s.otherSeconds).toFixed(0)} ms; ` +
      `CPU ${(1000 * s.cpuSeconds).toFixed(0)} ms per step, ${(s.cpuSeconds / s.wallSeconds).toFixed(2)} cores (load ${loadavg()[0].toFixed(1)})`);
    failed = false;
    return s;
  } finally {
    // Two signals: the launcher's second one stops the scheduler, the workers and nats-server at once.
    if (code === undefined) {
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      if (code === undefined) child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
      if (!stopped && child.pid) process.kill(-child.pid, 'SIGKILL');
    }
    await fd.close();
    if (failed) log(`${preset}/${name}: the run directory and launcher.log are kept in ${out}`);
    else await fsp.rm(out, { recursive: true, force: true });
  }
}

const startLoad = loadavg();
log(`scaling: presets ${presets.join(',')}, configs ${configs.join(',')}, ${rounds} round(s) of ${warmup} warm-up + ${steps} timed steps, ` +
  `${perWorker} images per worker (load ${startLoad.map((l) => l.toFixed(1)).join(' ')})`);
const samples = new Map<string, Sample[]>(); // "preset|config" -> one per round
for (let round = 0; round < rounds; round++) {
  for (const preset of presets) {
    for (const name of configs) {
      const key = `${preset}|${name}`;
      samples.set(key, [...(samples.get(key) ?? []), await runOnce(preset, name, round)]);
    }
  }
}

const spread = (xs: number[]) => ({ median: r3(median(xs)), min: r3(Math.min(...xs)), max: r3(Math.max(...xs)) });
const results = presets.map((preset) => {
  const of = (name: ConfigName): Sample[] => samples.get(`${preset}|${name}`) ?? [];
  // Images/s over config a's in the same round (medians of the per-round ratios).
  const ratio = (num: ConfigName) => {
    const a = of('a');
    const n = of(num);
    if (num === 'a' || a.length === 0 || n.length === 0) return null;
    return spread(n.map((s, i) => s.imagesPerSecond / a[i].imagesPerSecond));
  };
  const perConfig = Object.fromEntries(configs.map((name) => {
    const ss = of(name);
    const m = (f: (s: Sample) => number): number => r3(median(ss.map(f)));
    return [name, {
      ...CONFIGS[name], globalBatch: perWorker * CONFIGS[name].workers,
      imagesPerSecond: spread(ss.map((s) => s.imagesPerSecond)),
      overA: ratio(name),
      // Median seconds per step: wall (scheduler) = slowest rank's step + other.
      perStep: {
        wall: m((s) => s.wallSeconds), step: m((s) => s.stepSeconds), compute: m((s) => s.computeSeconds),
        gradsAllReduce: m((s) => s.gradsWaitSeconds), syncBn: m((s) => s.syncBnWaitSeconds), other: m((s) => s.otherSeconds),
      },
      waitShare: m((s) => s.waitShare),
      // CPU seconds per step of all the run's processes, and the cores that makes (CPU / wall).
      cpuSecondsPerStep: m((s) => s.cpuSeconds), cores: m((s) => s.cpuSeconds / s.wallSeconds),
      collectivesPerStep: ss[0]?.collectives ?? 0,
      perRound: ss.map((s) => r3(s.imagesPerSecond)),
    }];
  }));
  return { preset, configs: perConfig, bOverA: configs.includes('b') ? ratio('b') : null, cOverA: configs.includes('c') ? ratio('c') : null };
});
for (const r of results) {
  log(`${r.preset}: b/a ${r.bOverA ? `${r.bOverA.median} (${r.bOverA.min}..${r.bOverA.max})` : '-'}, ` +
    `c/a ${r.cOverA ? `${r.cOverA.median} (${r.cOverA.min}..${r.cOverA.max})` : '-'}`);
}
console.log(JSON.stringify({
  bench: 'scaling', unit: 'images/s; seconds per step', node: process.version, cpus: cpus().length,
  loadavg: { start: startLoad.map((l) => +l.toFixed(1)), end: loadavg().map((l) => +l.toFixed(1)) },
  rounds, warmupSteps: warmup, timedSteps: steps, imagesPerWorker: perWorker, target: { preset: 'workshop', bOverA: 1.8 },
  results,
}));
