// Worker membership in JetStream KV (bucket `gantry_workers`, key `<run>.<worker key>`):
//   - a worker writes its Registration when it starts and rewrites it every heartbeat interval
//     (a KV put is its heartbeat), and deletes the key when it exits cleanly (a leave);
//   - the scheduler watches `<run>.*` and keeps the latest registration of each worker with the
//     local time it arrived; a worker whose latest write is older than the liveness deadline is
//     presumed dead or stalled (remote clocks are never compared).
// A killed worker leaves its key behind; the scheduler tells it from a live one by age alone.
import os from 'node:os';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../telemetry/log.ts';
import { decodeMessage, encodeMessage } from './messages.ts';
import { WORKERS_BUCKET } from './subjects.ts';
import { type Registration, registrationSchema } from './worker-messages.ts';

export async function openWorkersBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(WORKERS_BUCKET, { history: 1 });
}

/** A registration as stored, with the server's time of its last write (for `gantry status`). */
export interface StoredRegistration {
  reg: Registration;
  writtenAt: Date;
}

/**
 * The run's registrations as they are now, without creating the bucket (none when it is
 * missing). Malformed entries and entries that claim another run or key are skipped, as the
 * scheduler's roster skips them. A killed worker's entry stays behind: `writtenAt` tells its age.
 */
export async function readRegistrations(nc: NatsConnection, run: string): Promise<StoredRegistration[]> {
  let kv: KV;
  // A set: kv.keys() lists a key again when it is written while the listing runs (workers beat
  // every heartbeat; seen in CI as one worker listed three times by `gantry status`).
  const keys = new Set<string>();
  try {
    kv = await new Kvm(nc).open(WORKERS_BUCKET);
    for await (const k of await kv.keys(`${run}.*`)) keys.add(k);
  } catch {
    return [];
  }
  const out: StoredRegistration[] = [];
  for (const k of [...keys].sort()) {
    const e = await kv.get(k).catch(() => null);
    if (!e || e.operation !== 'PUT') continue;
    try {
      const reg = decodeMessage(registrationSchema, e.value, `worker registration ${k}`);
      if (reg.run === run && `${run}.${reg.key}` === k) out.push({ reg, writtenAt: e.created });
    } catch {
      // skipped, as the roster does
    }
  }
  return out;
}

export type RegistrationBody = Pick<Registration, 'ready' | 'generation' | 'rank' | 'applied'>;

export interface RegistrationPublisher {
  /** Writes now (after a state change), then keeps the interval. */
  beat(): void;
  /** Stops beating and deletes the key (a clean leave). */
  leave(): Promise<void>;
}

export function startRegistration(
  kv: KV,
  identity: { run: string; key: string; addr: string },
  body: () => RegistrationBody,
  intervalMs: number,
  log: Logger,
): RegistrationPublisher {
  const kvKey = `${identity.run}.${identity.key}`;
  let stopped = false;
  const write = (): void => {
    if (stopped) return;
    const reg: Registration = {
      run: identity.run, key: identity.key, host: os.hostname(), pid: process.pid, addr: identity.addr,
      ...body(), ts: new Date().toISOString(),
    };
    kv.put(kvKey, encodeMessage(reg)).catch((err: unknown) => {
      if (!stopped) log.warn('cannot write the worker registration', { key: kvKey, error: err });
    });
  };
  write();
  const timer = setInterval(write, intervalMs);
  timer.unref();
  return {
    beat: write,
    leave: async () => {
      stopped = true;
      clearInterval(timer);
      await kv.delete(kvKey).catch((err: unknown) => log.warn('cannot delete the worker registration', { key: kvKey, error: err }));
    },
  };
}

export interface SeenWorker {
  readonly reg: Registration;
  /** Local clock (ms) when the latest registration arrived. */
  readonly receivedAt: number;
  /** Local clock (ms) when this worker's key was first seen. */
  readonly firstSeen: number;
}

/** The scheduler's view of the run's workers, kept current by a KV watch. */
export class WorkerRoster {
  private readonly seen = new Map<string, SeenWorker>();
  private readonly left = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private stopWatch: (() => void) | undefined;

  constructor(private readonly kv: KV, private readonly run: string, private readonly log: Logger) {}

  async start(): Promise<this> {
    const iter = await this.kv.watch({ key: `${this.run}.*` });
    this.stopWatch = () => iter.stop();
    void (async () => {
      for await (const e of iter) {
        const key = e.key.slice(this.run.length + 1);
        if (e.operation !== 'PUT') {
          if (this.seen.delete(key)) this.left.add(key);
        } else {
          try {
            const reg = decodeMessage(registrationSchema, e.value, `worker registration ${e.key}`);
            // A registration speaks for its own key of its own run only: one written under another
            // key (or for another run) would send that worker's commands elsewhere, or count one
            // worker twice in a generation.
            if (reg.run !== this.run || reg.key !== key) {
              this.log.warn('ignoring a worker registration for another run or key', { key: e.key, run: reg.run.slice(0, 80), claimedKey: reg.key.slice(0, 80) });
              continue;
            }
            const prev = this.seen.get(key);
            this.seen.set(key, { reg, receivedAt: Date.now(), firstSeen: prev?.firstSeen ?? Date.now() });
          } catch (err) {
            this.log.warn('ignoring a malformed worker registration', { key: e.key, error: err });
          }
        }
        for (const wake of [...this.waiters]) wake();
      }
    })();
    return this;
  }

  get(key: string): SeenWorker | undefined {
    return this.seen.get(key);
  }

  /** Workers that left cleanly (deleted their key) since the last call. */
  takeLeft(): string[] {
    const out = [...this.left];
    this.left.clear();
    return out;
  }

  /**
   * Heard from within `livenessMs`. Silence before `since` (local ms) does not count: the reader
   * could not hear anyone then (NATS down, or the reader itself stalled: scheduler/vantage.ts).
   */
  isFresh(key: string, livenessMs: number, since = 0): boolean {
    const w = this.seen.get(key);
    return w !== undefined && Date.now() - Math.max(w.receivedAt, since) <= livenessMs;
  }

  /** Ready workers fresh as isFresh says, oldest registration first. */
  live(livenessMs: number, since = 0): SeenWorker[] {
    return [...this.seen.values()]
      .filter((w) => w.reg.ready && Date.now() - Math.max(w.receivedAt, since) <= livenessMs)
      .sort((a, b) => a.firstSeen - b.firstSeen || a.reg.key.localeCompare(b.reg.key));
  }

  /** Resolves true once `cond()` holds (checked on every update and every 100 ms), false after `timeoutMs` or on abort. */
  waitUntil(cond: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (v: boolean): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const check = (): void => { if (cond()) finish(true); };
      const onAbort = (): void => finish(false);
      const timer = setTimeout(() => finish(cond()), timeoutMs);
      const poll = setInterval(check, 100); // staleness changes with time, not only with updates
      this.waiters.add(check);
      signal?.addEventListener('abort', onAbort);
    });
  }

  stop(): void {
    this.stopWatch?.();
    for (const wake of [...this.waiters]) wake();
  }
}
