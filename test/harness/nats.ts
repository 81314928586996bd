// Test harness: a real nats-server with JetStream on a free loopback port and a throw-away store
// directory, started once per test file and killed (store removed) on teardown.
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type NatsServerProcess, startNatsServer } from '../../services/launcher/nats-server.ts';

export interface TestNats {
  readonly url: string;
  readonly server: NatsServerProcess;
  stop(): Promise<void>;
}

export async function startTestNats(): Promise<TestNats> {
  const storeDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-nats-'));
  const server = await startNatsServer({ storeDir });
  return {
    url: server.url,
    server,
    stop: async () => {
      await server.stop(2_000);
      await fsp.rm(storeDir, { recursive: true, force: true });
    },
  };
}

/** A test file's nats-server and one plain client connection: filled in before(), closed in after(). */
export interface FileNats {
  nats: TestNats;
  nc: NatsConnection;
}

export function useTestNats(): FileNats {
  const f = {} as FileNats;
  before(async () => {
    f.nats = await startTestNats();
    f.nc = await connect({ servers: f.nats.url });
  });
  after(async () => {
    await f.nc?.close();
    await f.nats?.stop();
  });
  return f;
}

/** True while a process with this pid runs (signal 0 checks without signalling; a zombie is dead). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; state Z is an exited child nobody has reaped yet.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}
