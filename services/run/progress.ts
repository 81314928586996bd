// Training progress: a bar on a terminal, JSON log lines otherwise (services, CI, redirected
// output). Both show done/total, iterations per second over the last ~10 s, the ETA and the
// caller's fields (losses) to 4 significant digits.
import cliProgress from 'cli-progress';
import { createLogger, type Logger } from '../telemetry/log.ts';

export interface ProgressOptions {
  total: number;
  label: string;
  /** Default process.stderr, so stdout stays clean for command output. */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Non-TTY: log every `every` updates (default 100) or every `intervalMs` (default 5000), whichever first. */
  every?: number;
  intervalMs?: number;
  /** Iterations already done when this starts (a resumed run), so it/s counts only new ones. */
  initial?: number;
  /** Non-TTY: log through this logger instead of a new one on `stream`. */
  logger?: Logger;
  /** Milliseconds clock; tests pass a fake one. */
  now?: () => number;
}

export interface Progress {
  update(done: number, fields?: Record<string, number>): void;
  stop(): void;
}

/** 4 significant digits, exponent form outside [1e-3, 1e5). */
export function formatField(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const WINDOW_MS = 10_000;

/** Rate over a sliding window of (time, done) samples; the whole history until it spans a window. */
class RateMeter {
  #samples: [number, number][] = [];

  constructor(t0: number, done0: number) {
    this.#samples.push([t0, done0]);
  }

  add(t: number, done: number): void {
    this.#samples.push([t, done]);
    while (this.#samples.length > 2 && t - this.#samples[1][0] >= WINDOW_MS) this.#samples.shift();
  }

  perSecond(): number {
    const [t0, d0] = this.#samples[0];
    const [t1, d1] = this.#samples[this.#samples.length - 1];
    return t1 > t0 ? ((d1 - d0) * 1000) / (t1 - t0) : 0;
  }
}

function fieldsText(fields: Record<string, number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${formatField(v)}`)
    .join(' ');
}

function ttyProgress(o: ProgressOptions, now: () => number): Progress {
  const bar = new cliProgress.SingleBar({
    format: `${o.label} [{bar}] {value}/{total} | {rate} it/s | ETA {etaText} | {fields}`,
    stream: o.stream,
    barsize: 24,
    hideCursor: true,
    fps: 10,
  }, cliProgress.Presets.shades_classic);
  const meter = new RateMeter(now(), o.initial ?? 0);
  bar.start(o.total, o.initial ?? 0, { rate: '-', etaText: '?', fields: '' });
  return {
    update(done, fields = {}) {
      meter.add(now(), done);
      const rate = meter.perSecond();
      bar.update(done, { rate: formatField(rate), etaText: formatDuration(rate > 0 ? (o.total - done) / rate : NaN), fields: fieldsText(fields) });
    },
    stop: () => bar.stop(),
  };
}

function logProgress(o: ProgressOptions, now: () => number): Progress {
  const log = o.logger ?? createLogger({ component: o.label, stream: o.stream ?? process.stderr });
  const every = o.every ?? 100;
  const intervalMs = o.intervalMs ?? 5000;
  const meter = new RateMeter(now(), o.initial ?? 0);
  let sinceLog = 0;
  let lastLogAt = now();
  let last: { done: number; fields: Record<string, number> } | undefined;
  const emit = (t: number): void => {
    if (!last) return;
    const itPerSec = Number(meter.perSecond().toPrecision(4));
    const etaSeconds = itPerSec > 0 ? Math.round((o.total - last.done) / itPerSec) : null;
    log.info('progress', { done: last.done, total: o.total, itPerSec, etaSeconds, ...last.fields });
    sinceLog = 0;
    lastLogAt = t;
  };
  return {
    update(done, fields = {}) {
      const t = now();
      meter.add(t, done);
      last = { done, fields };
      sinceLog += 1;
      if (sinceLog >= every || t - lastLogAt >= intervalMs) emit(t);
    },
    stop() {
      if (sinceLog > 0) emit(now());
    },
  };
}

export function createProgress(options: ProgressOptions): Progress {
  if (!Number.isFinite(options.total) || options.total < 0) throw new RangeError(`createProgress: total must be >= 0, got ${options.total}`);
  if (options.every !== undefined && !(Number.isSafeInteger(options.every) && options.every >= 1)) {
    throw new RangeError(`createProgress: every must be an integer >= 1, got ${options.every}`);
  }
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const isTTY = (stream as NodeJS.WriteStream).isTTY === true;
  return isTTY ? ttyProgress({ ...options, stream }, now) : logProgress({ ...options, stream }, now);
}
