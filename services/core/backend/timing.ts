// Timing for the backend and kernel benchmarks: the median of N runs after warm-up, and a
// description of the machine the figures were taken on (CPU, cores, load: the machines this
// project runs on are shared, and a load average above the core count inflates every figure).
import os from 'node:os';

export interface Timing {
  /** Median ms over `n` timed runs. */
  ms: number;
  min: number;
  n: number;
}

/** Times `run` n times after `warmup` untimed runs; `prepare` (untimed) builds each run's input. */
export function timeRuns<T>(run: (input: T) => void, opts: { n: number; warmup: number; prepare?: () => T; cleanup?: (input: T) => void }): Timing {
  const times: number[] = [];
  for (let i = 0; i < opts.warmup + opts.n; i++) {
    const input = opts.prepare ? opts.prepare() : (undefined as T);
    const t0 = performance.now();
    run(input);
    const dt = performance.now() - t0;
    opts.cleanup?.(input);
    if (i >= opts.warmup) times.push(dt);
  }
  times.sort((a, b) => a - b);
  return { ms: round(times[Math.floor(times.length / 2)]), min: round(times[0]), n: times.length };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  /** 1-minute load average when the description was taken. */
  load1: number;
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    load1: round(os.loadavg()[0]),
  };
}

/** `--name value` and `--flag` arguments into a map; unknown names are the caller's to reject. */
export function parseArgs(argv: readonly string[], known: Record<string, 'value' | 'flag'>): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    const kind = known[name];
    if (!argv[i].startsWith('--') || kind === undefined) {
      throw new Error(`unknown argument '${argv[i]}'; expected one of ${Object.keys(known).map((k) => `--${k}`).join(', ')}`);
    }
    if (kind === 'flag') out.set(name, 'true');
    else {
      const v = argv[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      out.set(name, v);
    }
  }
  return out;
}
