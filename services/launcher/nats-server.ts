// Runs the Debian `nats-server` binary as a child with JetStream on loopback:
//   nats-server -a 127.0.0.1 -p PORT -js -sd STORE_DIR
// and waits for its "Server is ready" line. The child is its own process group, so a Ctrl-C on
// the terminal reaches only the launcher, which stops the services first and the server last.
// nats-server cannot watch its parent, so it runs under a small sh watchdog in the same group:
// when the launcher dies without stopping it (SIGKILL, OOM), the watchdog stops the server
// within a second instead of leaving it orphaned on its port.
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports.ts';

export interface NatsServerOptions {
  storeDir: string;
  port?: number;
  binary?: string;
  readyTimeoutMs?: number;
  /** A configuration file (`-c`): users, permissions, TLS (`gantry nats-config`); the flags above still set address, port and store. */
  configFile?: string;
  /** Receives the server's own log lines. */
  onLog?: (line: string) => void;
}

export interface NatsServerProcess {
  readonly url: string;
  readonly port: number;
  /** The process group leader: the watchdog shell around nats-server (signal the group). */
  readonly pid: number;
  readonly storeDir: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export class NatsServerError extends Error {
  override readonly name = 'NatsServerError';
}

export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerProcess> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await spawnServer(port, opts);
    } catch (err) {
      lastErr = err;
      if (opts.port !== undefined) break;
    }
  }
  throw lastErr;
}

// $1 is the launcher's pid, the rest the server's command line. The script's exit status is the
// server's (127 when the binary is missing). Prometheus (prometheus.ts) runs under it too.
export const WATCHDOG = [
  'parent=$1; shift',
  '"$@" & srv=$!',
  `trap 'kill -TERM "$srv" 2>/dev/null' TERM INT`,
  'while kill -0 "$srv" 2>/dev/null; do',
  '  if ! kill -0 "$parent" 2>/dev/null; then kill -TERM "$srv"; break; fi',
  '  sleep 1',
  'done',
  'wait "$srv"',
].join('\n');

function spawnServer(port: number, opts: NatsServerOptions): Promise<NatsServerProcess> {
  const binary = opts.binary ?? 'nats-server';
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', opts.storeDir, ...(opts.configFile ? ['-c', opts.configFile] : [])];
  const child = spawn('sh', ['-c', WATCHDOG, 'sh', String(process.pid), binary, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const tail: string[] = [];
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(`not ready within ${opts.readyTimeoutMs ?? 10_000} ms`), opts.readyTimeoutMs ?? 10_000);
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child, 'SIGKILL');
      reject(new NatsServerError(`${binary} ${args.join(' ')}: ${why}${tail.length ? `; last output:\n${tail.join('\n')}` : ''}`));
    };
    child.once('error', (err) => fail(`cannot start (${err.message}); is nats-server installed?`));
    void exited.then((code) => fail(code === 127
      ? `cannot start (command not found); is nats-server installed?`
      : `exited with code ${code} before it was ready`));
    let buffered = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        opts.onLog?.(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (line.includes('Server is ready') && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve(handle(child, port, opts.storeDir, exited));
        }
      }
    });
  });
}

function handle(child: ChildProcess, port: number, storeDir: string, exited: Promise<number | null>): NatsServerProcess {
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    storeDir,
    exited,
    stop: async (graceMs = 5_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Signals the child's whole process group (it was spawned detached, so it leads one). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
