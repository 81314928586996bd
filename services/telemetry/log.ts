// Structured logs. Services write one JSON object per line (ts, level, component, msg, fields);
// on a terminal the same records are printed as short human lines. Nothing else in gantry writes
// to stdout/stderr directly except progress bars and command output.
import { envChoice } from '../env/mod.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'pretty';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  component: string;
  format?: LogFormat;
  level?: LogLevel;
  stream?: NodeJS.WritableStream;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Errors become {message, cause...}; everything else passes through JSON.stringify. */
function serializable(value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, ...(value.cause ? { cause: serializable(value.cause) } : {}) };
  }
  return value;
}

function pretty(level: LogLevel, component: string, msg: string, fields: LogFields): string {
  const extras = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(serializable(v))}`)
    .join(' ');
  const tag = level === 'info' ? '' : `${level.toUpperCase()} `;
  return `[${component}] ${tag}${msg}${extras ? ' ' + extras : ''}\n`;
}

export function createLogger(opts: LoggerOptions, bound: LogFields = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const format: LogFormat = opts.format ?? envChoice('GANTRY_LOG_FORMAT') ?? 'json';
  const min = RANK[opts.level ?? envChoice('GANTRY_LOG_LEVEL') ?? 'info'] ?? RANK.info;
  const write = (level: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (RANK[level] < min) return;
    const all = { ...bound, ...fields };
    if (format === 'pretty') {
      stream.write(pretty(level, opts.component, msg, all));
      return;
    }
    const record: LogFields = { ts: new Date().toISOString(), level, component: opts.component, msg };
    for (const [k, v] of Object.entries(all)) record[k] = serializable(v);
    stream.write(JSON.stringify(record) + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  };
}
