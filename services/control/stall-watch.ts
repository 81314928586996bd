// A process's own record of the times it did not run. A ticker samples the wall clock every
// TICK_MS; a gap over STALL_MS between two samples means the event loop did not turn meanwhile
// (SIGSTOP, a suspended VM, a long GC, or synchronous compute such as a step longer than that).
// Only the process itself can see this for sure: an observer that hears nothing cannot tell a
// stalled member from a stalled network or from its own stall (services/scheduler/vantage.ts).
// Members report their stalls in their heartbeats (`stall`), so the scheduler can name a member
// that stalled even when it could not watch it at the time (it was stalled itself, or NATS was
// down): the count only grows, so a heartbeat lost on the way costs nothing but the length of the
// stalls it carried.

export const TICK_MS = 100;
export const STALL_MS = 1_000;

/** What a member says about its own stalls (a heartbeat field). */
export interface StallReport {
  /** Gaps over STALL_MS seen by this process since it started. */
  count: number;
  /** The length of the latest one (ms). */
  lastMs: number;
}

export class StallWatch {
  private lastTick = Date.now();
  private stalls = 0;
  private lastMs = 0;
  private readonly ticker: NodeJS.Timeout;

  /** `onStall(gapMs)` runs once per gap, when the process runs again. */
  constructor(private readonly onStall?: (gapMs: number) => void) {
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  /** Samples the clock now (call before reading `report()`, so a gap that just ended counts). */
  tick(): void {
    const now = Date.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    if (gap <= STALL_MS) return;
    this.stalls++;
    this.lastMs = gap;
    this.onStall?.(gap);
  }

  /** The stalls so far; undefined while there were none (heartbeats stay as they were). */
  report(): StallReport | undefined {
    this.tick();
    return this.stalls === 0 ? undefined : { count: this.stalls, lastMs: this.lastMs };
  }

  stop(): void {
    clearInterval(this.ticker);
  }
}
