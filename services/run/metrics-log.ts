// metrics.jsonl: one JSON object per line, each with an ISO `ts`. Lines are appended with one
// synchronous write each, so a crash loses at most the line being written, and a reader drops
// a cut-off last line. NaN and Infinity are written as null: the log must stay valid JSON even
// when training diverges (the trainer itself stops on NaN).
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { RunDirError, RunWriteError } from './errors.ts';

export type MetricsRecord = Record<string, unknown>;

/** JSON.stringify replacer: non-finite numbers become null, bigints become numbers. */
function finiteOrNull(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  if (typeof value === 'bigint') return Number(value);
  return value;
}

export class MetricsLog {
  readonly path: string;
  #fd: number | undefined;

  private constructor(file: string, fd: number) {
    this.path = file;
    this.#fd = fd;
  }

  /** Opens for appending (creating the file and its directory); a resumed run keeps its history. */
  static async open(file: string): Promise<MetricsLog> {
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      return new MetricsLog(file, fs.openSync(file, 'a'));
    } catch (err) {
      throw new RunDirError(file, `${file}: cannot open metrics log: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Writes {ts, ...record} as one line. A `ts` in the record wins over the current time. */
  append(record: MetricsRecord): void {
    if (this.#fd === undefined) throw new RunDirError(this.path, `${this.path}: append after close`);
    const line = Buffer.from(JSON.stringify({ ts: new Date().toISOString(), ...record }, finiteOrNull) + '\n', 'utf8');
    let written = 0;
    try {
      while (written < line.length) written += fs.writeSync(this.#fd, line, written, line.length - written);
    } catch (err) {
      throw new RunWriteError(this.path, err);
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * All records of a metrics log. An unterminated last line that does not parse is the trace of
 * a crash and is dropped; a bad line anywhere else is corruption and fails naming the line.
 */
export async function readMetrics(file: string): Promise<MetricsRecord[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw new RunDirError(file, `${file}: cannot read metrics log: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.split('\n');
  const records: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const last = i === lines.length - 1; // no newline after it
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (last) break;
      throw new RunDirError(file, `${file}: line ${i + 1} is not JSON: ${line.slice(0, 80)}`, { cause: err });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      if (last) break;
      throw new RunDirError(file, `${file}: line ${i + 1} is not a JSON object`);
    }
    records.push(value as MetricsRecord);
  }
  return records;
}
