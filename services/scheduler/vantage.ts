// Whether the scheduler can trust its own view of the heartbeats. A member is presumed dead when
// its heartbeats stop (fleet.ts), but heartbeats also stop arriving when the scheduler itself was
// stalled (SIGSTOP, a long GC, a suspended VM: every heartbeat it has not read yet looks late at
// once) or when NATS is down or stalled (all peers fall silent at once). Neither is the member's
// fault, so silence only counts from `trustedSince`:
//   - own stall: a gap in the scheduler's own clock samples (control/stall-watch.ts) means this
//     process did not run, and trust restarts when it runs again;
//   - NATS down: from a 'disconnect' (or 'staleConnection') status until a 'reconnect', and trust
//     restarts at the reconnect (the members reconnect too, a little later);
//   - NATS stalled (the TCP connection is up, the server does not answer): before any member is
//     blamed, `confirmSilence` round-trips a PING to the server; no PONG within PROBE_MS means the
//     server is the silent one, and trust restarts when a later probe gets its PONG.
// A command sent while NATS was away may have been lost with the server: `reconnects` counts the
// reconnections, and the fleet re-sends a command during which one happened.
import type { NatsConnection } from '@nats-io/transport-node';
import { StallWatch } from '../control/stall-watch.ts';
import type { Logger } from '../telemetry/log.ts';

const PROBE_MS = 1_000;

/** Why the scheduler did not trust its view at some moment (for logs and tests). */
export type Blind = 'scheduler-stalled' | 'nats-disconnected' | 'nats-stalled';

export class Vantage {
  /** Local time (ms) from which missing heartbeats count against a member. */
  private trusted = Date.now();
  private down: Blind | undefined;
  private probing: Promise<boolean> | undefined;
  private reconnections = 0;
  private readonly stalls: StallWatch;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {
    this.stalls = new StallWatch((gap) => this.onOwnStall(gap));
    void this.watchStatus();
  }

  /** How many times the connection to NATS was re-established. */
  get reconnects(): number {
    return this.reconnections;
  }

  /** Silence before this local time (ms) says nothing about a member; now while blind. */
  trustedSince(): number {
    this.stalls.tick();
    return this.down ? Date.now() : this.trusted;
  }

  /** Currently unable to hear anyone (NATS down or stalled), or undefined. */
  blind(): Blind | undefined {
    this.stalls.tick();
    return this.down;
  }

  /**
   * Called before a member is blamed for silence: resolves true when the server answers a PING
   * (the silence is the member's), false when it does not (NATS stalled; trust restarts once it
   * answers again) or while NATS is disconnected.
   */
  confirmSilence(): Promise<boolean> {
    if (this.down === 'nats-disconnected') return Promise.resolve(false);
    this.probing ??= this.probe().finally(() => { this.probing = undefined; });
    return this.probing;
  }

  private async probe(): Promise<boolean> {
    const answered = await Promise.race([
      this.nc.flush().then(() => true, () => false),
      new Promise<false>((r) => setTimeout(() => r(false), PROBE_MS)),
    ]);
    if (answered) return true;
    if (!this.down) this.blindFrom('nats-stalled', 'NATS does not answer a PING; no member is blamed for the silence until it does');
    void this.awaitAnswer();
    return false;
  }

  /** After a failed probe: flush() resolves once the server answers (buffered PINGs are delivered). */
  private async awaitAnswer(): Promise<void> {
    while (!this.closed && this.down === 'nats-stalled') {
      const ok = await this.nc.flush().then(() => true, () => false);
      if (ok) return this.seeAgain('NATS answers again');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private onOwnStall(gap: number): void {
    if (this.closed) return;
    this.trusted = Date.now();
    this.log.warn(`the scheduler itself did not run for ${gap} ms; no member is blamed for heartbeats missed meanwhile`, { gapMs: gap, blind: 'scheduler-stalled' });
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'staleConnection') {
          this.blindFrom('nats-disconnected', `NATS ${s.type === 'disconnect' ? 'disconnected' : 'connection stale'}; no member is blamed until it is back`);
        } else if (s.type === 'reconnect') {
          this.reconnections++;
          this.seeAgain('reconnected to NATS');
        }
      }
    } catch {
      // the connection closed
    }
  }

  private blindFrom(why: Blind, message: string): void {
    if (this.down === why) return;
    this.down = why;
    this.log.warn(message, { blind: why });
  }

  private seeAgain(message: string): void {
    if (!this.down) return;
    const was = this.down;
    this.down = undefined;
    this.trusted = Date.now();
    this.log.info(message, { blind: was });
  }

  stop(): void {
    this.closed = true;
    this.stalls.stop();
  }
}
