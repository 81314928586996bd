// nats-server as a local launcher keeps it (local-cluster.ts, local-workers.ts):
//   - started on a free port with its JetStream store in a directory of the run (RUN_DIR/.cluster/
//     nats), never a temporary one elsewhere, so the KV buckets (run state, worker registrations)
//     outlive the server process;
//   - restarted when it exits while the run goes on (kill -9, a crash): same port, since every
//     client has the URL and reconnects to it forever, and same store, so nothing is lost; retried
//     for a few seconds while the dead server's port is released; given up after maxRestarts;
//   - watched: every PROBE_EVERY_MS the launcher's own connection round-trips a PING; none
//     answered within PROBE_MS means the server is stalled, said once (warn) and again when it
//     answers. The launcher is the one process that always holds a connection, so a stall has a
//     witness even when no one else is waiting on NATS at that moment.
import { promises as fsp } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../telemetry/log.ts';
import { type NatsServerProcess, startNatsServer } from './nats-server.ts';

const PROBE_EVERY_MS = 1_000;
/** A local server answers a PING in milliseconds; the chaos schedule stops it for 3 s or more. */
const PROBE_MS = 2_000;
const RESTART_TRIES = 10;
const RESTART_PAUSE_MS = 500;

export interface NatsKeeperOptions {
  storeDir: string;
  log: Logger;
  /** Restarts allowed over the run (default 5); one more death fails the run via onGiveUp. */
  maxRestarts?: number;
  /** True once the launcher is shutting down: an exit then is expected, not restarted. */
  stopping(): boolean;
  /** Each server process started (the first and every restart). */
  onStart?(server: NatsServerProcess): void;
  /** Each server process that exited. */
  onExit?(server: NatsServerProcess, code: number | null): void;
  /** The server could not be kept alive: the run cannot go on. */
  onGiveUp(message: string, cause?: unknown): void;
}

export class NatsKeeper {
  /** Times the server was restarted. */
  restarts = 0;
  private server: NatsServerProcess | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: NatsKeeperOptions) {}

  /** The watchdog's process group (for a synchronous kill on exit), while a server runs. */
  get pid(): number | undefined {
    return this.server?.pid;
  }

  /** Starts the first server; resolves to its URL. */
  async start(): Promise<string> {
    await fsp.mkdir(this.opts.storeDir, { recursive: true });
    return this.launch();
  }

  private async launch(port?: number): Promise<string> {
    const server = await startNatsServer({ storeDir: this.opts.storeDir, port });
    if (this.opts.stopping()) {
      await server.stop(); // restarted while the run was being shut down
      return server.url;
    }
    this.server = server;
    this.opts.onStart?.(server);
    void server.exited.then((code) => {
      this.opts.onExit?.(server, code);
      if (!this.opts.stopping() && this.server === server) void this.restart(server, code);
    });
    return server.url;
  }

  private async restart(dead: NatsServerProcess, code: number | null): Promise<void> {
    if (this.restarts >= (this.opts.maxRestarts ?? 5)) {
      this.opts.onGiveUp(`nats-server died ${this.restarts + 1} times (last: code ${code}); giving up`);
      return;
    }
    this.restarts++;
    this.opts.log.warn(`nats-server exited (code ${code}); restarting it on port ${dead.port} with its store`, { restart: this.restarts, storeDir: dead.storeDir });
    let lastErr: unknown;
    for (let attempt = 0; attempt < RESTART_TRIES && !this.opts.stopping(); attempt++) {
      try {
        await this.launch(dead.port);
        return;
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, RESTART_PAUSE_MS));
      }
    }
    if (!this.opts.stopping()) this.opts.onGiveUp(`cannot restart nats-server on port ${dead.port}: ${(lastErr as Error | undefined)?.message}`, lastErr);
  }

  /** Probes the server through `nc` until stop(). A disconnect is not a stall (the exit is told above). */
  watch(nc: NatsConnection): void {
    let stalled = false;
    let inFlight = false;
    let disconnected = false; // a dead server is told by its exit, not by a late PONG
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') disconnected = true;
        else if (s.type === 'reconnect') disconnected = false;
      }
    })().catch(() => undefined);
    this.probeTimer = setInterval(() => {
      if (inFlight || disconnected || nc.isClosed() || this.opts.stopping()) return;
      inFlight = true;
      const sent = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), PROBE_MS); });
      void Promise.race([nc.flush().then(() => 'answered' as const, () => 'failed' as const), late]).then((how) => {
        clearTimeout(timer);
        if (how === 'late' && !stalled && !disconnected && !nc.isClosed() && !this.opts.stopping()) {
          stalled = true;
          this.opts.log.warn(`NATS does not answer a PING within ${PROBE_MS} ms (nats-server stalled?); the launcher keeps waiting`, { pid: this.server?.pid ?? null });
        }
        if (how === 'late') {
          // The PING stays queued: its PONG (or the disconnect) ends the stall.
          void nc.flush().then(() => {
            if (stalled) this.opts.log.info(`NATS answers again (after ${Date.now() - sent} ms)`);
            stalled = false;
          }, () => { stalled = false; }).finally(() => { inFlight = false; });
          return;
        }
        if (stalled && how === 'answered') this.opts.log.info('NATS answers again');
        stalled = false;
        inFlight = false;
      });
    }, PROBE_EVERY_MS);
    this.probeTimer.unref();
  }

  /** Synchronous last resort (a process 'exit' hook): kills the server's process group. */
  killSync(): void {
    const pid = this.server?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Stops probing and the server (call after opts.stopping() turned true). */
  async stop(graceMs: number): Promise<void> {
    clearInterval(this.probeTimer);
    await this.server?.stop(graceMs);
  }
}
