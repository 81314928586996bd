// ms per training step of every preset on each backend gantry can fall back to: tfjs 'cpu',
// 'wasm' with its stock kernels (plus the cpu-delegated gradient kernels it lacks), 'wasm' with
// gantry's fast kernels on one thread ('fast') and on two ('fast2': main + one worker running the
// split kernels, wasm-parallel/); and PyTorch on the same architectures and step as a yardstick
// (bench/torch_reference.py, when python3 can import torch).
// A step is one D update + one G update (GANs, ganIteration with k = 1) or one classifier update,
// batch 64, synthetic data, median of N after warm-up.
// The slow cases are capped: cpu and stock wasm run the conv presets at --slow-batch (default 2)
// for one step and the figure is scaled linearly to batch 64 (marked "extrapolated"); their time
// is dominated by per-sample kernels (the cpu Conv2DBackpropFilter takes seconds per sample).
// Usage: node --import tsx bench/backends.ts [--presets mlp,dcgan] [--modes cpu,stock,fast,fast2,torch]
//          [--n 7] [--batch 64] [--slow-batch 2] [--rounds R]
// Each round measures one preset in every mode (PyTorch too) before the next preset; with
// --rounds R the table shows medians over R rounds, the ratios being medians of per-round ratios.
// Prints a table on stderr and one JSON object as the last stdout line.
import { spawnSync } from 'node:child_process';
import { tf } from '../services/core/tf.ts';
import { initBackend } from '../services/core/backend/select.ts';
import { presetStep, PRESETS, type PresetName } from '../services/core/backend/preset-steps.ts';
import { describeMachine, parseArgs, round, timeRuns, type Timing } from '../services/core/backend/timing.ts';

type Mode = 'cpu' | 'stock' | 'fast' | 'fast2';
const MODES = ['cpu', 'stock', 'fast', 'fast2', 'torch'] as const;
const FAST_MODES: readonly Mode[] = ['fast', 'fast2'];

interface Figure extends Timing {
  batch: number;
  /** ms scaled to the full batch when measured at a smaller one. */
  extrapolatedMs?: number;
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !allowed.includes(s as T));
  if (bad.length > 0) throw new Error(`--${flag}: unknown ${bad.join(', ')}; expected some of ${allowed.join(', ')}`);
  return items as T[];
}

async function measure(mode: Mode, preset: PresetName, batch: number, slowBatch: number, n: number): Promise<Figure> {
  if (mode === 'cpu') await initBackend('cpu');
  else if (mode === 'fast2') await initBackend('wasm', undefined, { wasmKernels: 'fast', wasmThreads: 2 });
  else await initBackend('wasm', undefined, { wasmKernels: mode, wasmThreads: 1 });
  const fast = FAST_MODES.includes(mode);
  const slow = !fast && preset !== 'mlp';
  const b = slow ? slowBatch : batch;
  const step = presetStep(preset, b);
  try {
    // fast2 warms up longer: its split governor times each big call signature both ways (3 calls
    // each, split-governor.ts) before it settles, a one-time cost of a run that 7 timed steps
    // would otherwise mostly measure (it cost workshop 19 % with 2 warm-up steps).
    const warmup = mode === 'fast2' ? 8 : fast ? 2 : 1;
    const t = timeRuns(() => step.run(), slow ? { n: 1, warmup: 0 } : { n: fast ? n : 3, warmup });
    return b === batch ? { ...t, batch: b } : { ...t, batch: b, extrapolatedMs: round((t.ms * batch) / b, 0) };
  } finally {
    step.dispose();
  }
}

function pythonWithTorch(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

function torchTimes(presets: readonly PresetName[], threads: number, batch: number, n: number): Record<string, number> | { error: string } {
  const py = pythonWithTorch();
  if (py == null) return { error: 'python3 cannot import torch (apt-get install -y python3-torch libopenblas0-openmp)' };
  const r = spawnSync(py, ['bench/torch_reference.py', '--threads', String(threads), '--batch', String(batch),
    '--steps', String(n), ...presets], { encoding: 'utf8', timeout: 600_000 });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return (JSON.parse(last) as { ms: Record<string, number> }).ms;
  } catch {
    return { error: `torch_reference.py failed (status ${r.status}): ${(r.stderr ?? '').trim().split('\n').pop()}` };
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Per preset and key: the median over rounds (ms of a Figure, plain numbers as they are). */
function medianOfRounds(perRound: Record<string, Record<string, unknown>>[], presets: readonly PresetName[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const preset of presets) {
    out[preset] = {};
    for (const key of Object.keys(perRound[0][preset])) {
      const values = perRound.map((r) => r[preset][key]);
      if (values.every((v) => typeof v === 'number')) out[preset][key] = round(median(values as number[]), 2);
      else if (values.every((v) => v != null && typeof v === 'object' && 'ms' in v)) {
        const figs = values as Figure[];
        out[preset][key] = { ...figs[0], ms: round(median(figs.map((f) => f.ms)), 2), min: round(Math.min(...figs.map((f) => f.min)), 2), n: figs.reduce((a, f) => a + f.n, 0) };
      } else out[preset][key] = values[0];
    }
  }
  return out;
}

const shown = (f: Figure | undefined): string =>
  f == null ? '-' : f.extrapolatedMs != null ? `~${f.extrapolatedMs} (b${f.batch}: ${f.ms})` : `${f.ms}`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { presets: 'value', modes: 'value', n: 'value', batch: 'value', 'slow-batch': 'value', rounds: 'value' });
  const presets = list(args.get('presets'), PRESETS, 'presets');
  const modes = list(args.get('modes'), MODES, 'modes');
  const n = Number(args.get('n') ?? 7);
  const batch = Number(args.get('batch') ?? 64);
  const slowBatch = Number(args.get('slow-batch') ?? 2);
  const machine = describeMachine();
  const rounds = Number(args.get('rounds') ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: expected a positive integer, found '${args.get('rounds')}'`);
  // Interleaved: each round measures every mode of one preset, PyTorch included, before the next
  // preset, so that a change of load on the shared machine moves a preset's figures together.
  const perRound: Record<string, Record<string, unknown>>[] = [];
  for (let r = 0; r < rounds; r++) {
    const results: Record<string, Record<string, unknown>> = Object.fromEntries(presets.map((p) => [p, {}]));
    for (const preset of presets) {
      for (const mode of modes.filter((m): m is Mode => m !== 'torch')) {
        results[preset][mode] = await measure(mode, preset, batch, slowBatch, n);
        process.stderr.write(`${rounds > 1 ? `round ${r + 1} ` : ''}${preset} ${mode}: ${shown(results[preset][mode] as Figure)} ms/step\n`);
      }
      if (modes.includes('torch')) {
        for (const threads of [1, 2]) {
          const t = torchTimes([preset], threads, batch, n);
          results[preset][`torch${threads}`] = 'error' in t ? t : t[preset];
        }
      }
      const torch2 = results[preset].torch2;
      for (const mode of FAST_MODES) {
        const f = results[preset][mode] as Figure | undefined;
        if (f && typeof torch2 === 'number') results[preset][`${mode}OverTorch2`] = round(f.ms / torch2, 2);
      }
    }
    perRound.push(results);
  }
  const results = rounds === 1 ? perRound[0] : medianOfRounds(perRound, presets);
  process.stderr.write(`\n${machine.date} ${machine.cpu}, ${machine.cores} cores, load ${machine.load1} (at start), batch ${batch}\n`);
  process.stderr.write('preset    cpu                 wasm stock          wasm fast   fast 2t     torch 1t  torch 2t  fast/torch2  fast2/torch2\n');
  for (const p of presets) {
    const r = results[p];
    const cell = (v: unknown): string => (typeof v === 'number' ? String(v) : v == null ? '-' : 'n/a');
    process.stderr.write(`${p.padEnd(9)} ${shown(r.cpu as Figure).padEnd(19)} ${shown(r.stock as Figure).padEnd(19)} ` +
      `${shown(r.fast as Figure).padEnd(11)} ${shown(r.fast2 as Figure).padEnd(11)} ${cell(r.torch1).padEnd(9)} ${cell(r.torch2).padEnd(9)} ` +
      `${cell(r.fastOverTorch2).padEnd(12)} ${cell(r.fast2OverTorch2)}\n`);
  }
  if (rounds > 1) process.stderr.write(`(medians of ${rounds} interleaved rounds; ratios are medians of the per-round ratios)\n`);
  console.log(JSON.stringify({
    bench: 'backends', machine, loadAtEnd: round((await import('node:os')).loadavg()[0]), batch, rounds, results,
    ...(rounds > 1 ? { perRound } : {}),
  }));
  tf.disposeVariables();
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/backends.ts: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
