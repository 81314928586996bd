// One child process of the local cluster: spawned as the leader of its own process group (so the
// terminal's Ctrl-C reaches only the launcher, and a stop signals everything the child started),
// its stdout and stderr forwarded line by line with a "[role] " prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import readline from 'node:readline';
import { killGroup } from './nats-server.ts';

export interface ChildSpec {
  role: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Lines of its output each child keeps, to say why it exited. */
const TAIL_LINES = 40;

/**
 * How long after the child's exit its output may still be arriving: 'exit' can come before the
 * last lines of stdout/stderr are read, and a grandchild that inherited the pipes can keep them
 * open for ever, so the launcher waits for both streams to end, but not longer than this.
 */
const DRAIN_MS = 1000;

export class ManagedChild {
  private proc: ChildProcess | undefined;
  private exited: Promise<ChildExit> | undefined;
  private readonly tail: string[] = [];

  constructor(
    readonly spec: ChildSpec,
    private readonly output: NodeJS.WritableStream,
    private readonly onExit: (exit: ChildExit, pid: number) => void,
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Spawns the child; returns its pid. */
  start(): number {
    this.tail.length = 0;
    const proc = spawn(this.spec.command, this.spec.args, { env: this.spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.proc = proc;
    const drained = Promise.all([this.forward(proc.stdout!), this.forward(proc.stderr!)]);
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((r) => { timer = setTimeout(r, DRAIN_MS); });
        void Promise.race([drained, late]).then(() => {
          clearTimeout(timer);
          resolve({ code, signal });
        });
      });
      proc.once('error', (err) => {
        this.output.write(`[${this.spec.role}] cannot start: ${err.message}\n`);
        resolve({ code: 127, signal: null });
      });
    });
    const pid = proc.pid ?? -1;
    void this.exited.then((exit) => this.onExit(exit, pid));
    return pid;
  }

  /** Forwards `stream` line by line; resolves when it has ended and every line was handled. */
  private forward(stream: NodeJS.ReadableStream): Promise<void> {
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    // Pretty log lines already start with "[role] "; JSON lines and anything else get the prefix.
    const prefix = `[${this.spec.role}] `;
    lines.on('line', (line) => {
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      this.output.write(line.startsWith(prefix) ? `${line}\n` : `${prefix}${line}\n`);
    });
    return new Promise((resolve) => lines.once('close', () => resolve()));
  }

  /**
   * Why the last instance exited, from its own output: the CLI's closing `gantry: ...` line, else
   * the message of its last error log line, else its last line that is not a log record (a crash's
   * stack trace); undefined when there is none (a kill -9 in the middle of routine logging).
   */
  lastWords(): string | undefined {
    const last = [...this.tail].reverse();
    const cli = last.find((l) => l.startsWith('gantry: '));
    if (cli) return cli.slice('gantry: '.length);
    return last.map(errorMessage).find((m) => m !== undefined) ?? last.find((l) => logRecord(l) === undefined);
  }

  /** Signals the child's process group (kill -9 in tests, SIGTERM to stop). */
  signal(signal: NodeJS.Signals): void {
    if (this.proc && this.running) killGroup(this.proc, signal);
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the child has exited. */
  async stop(graceMs: number): Promise<void> {
    if (!this.proc || !this.exited) return;
    if (this.running) killGroup(this.proc, 'SIGTERM');
    const timer = setTimeout(() => this.proc && killGroup(this.proc, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // The leader is gone; anything it left in its group goes too.
    try {
      process.kill(-this.proc.pid!, 'SIGKILL');
    } catch {
      // no such group: nothing left
    }
  }
}

/** A JSON log line's record (services/telemetry/log.ts), or undefined for any other line. */
function logRecord(line: string): { level?: unknown; msg?: unknown } | undefined {
  const at = line.indexOf('{');
  if (at < 0) return undefined;
  try {
    const rec = JSON.parse(line.slice(at)) as unknown;
    return rec !== null && typeof rec === 'object' && 'msg' in rec ? (rec as { level?: unknown; msg?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** The message of a JSON log line at level error or fatal. */
function errorMessage(line: string): string | undefined {
  const rec = logRecord(line);
  return rec && (rec.level === 'error' || rec.level === 'fatal') && typeof rec.msg === 'string' ? rec.msg : undefined;
}
