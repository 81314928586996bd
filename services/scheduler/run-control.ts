// The run's control subject (<prefix>.<run>.control, published by `gantry run pause|resume|stop`)
// as both schedulers read it. Messages take effect between iterations: the scheduler asks
// `stopRequested` and calls `holdWhilePaused` at each boundary. A message for another run id, or
// one that does not parse, is logged and ignored (the subject is shared with whoever can publish).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { controlSchema, decodeMessage } from '../control/messages.ts';
import type { Logger } from '../telemetry/log.ts';

export interface PauseHooks {
  /** Called once when the pause takes effect (ledger status, gauge, progress event). */
  onPause(): Promise<void> | void;
  /** Called once when the run goes on (resume, stop or shutdown). */
  onResume(): Promise<void> | void;
}

export class RunControl {
  private paused = false;
  private stopReason: string | undefined;
  private wake: (() => void) | undefined;
  private readonly sub: Subscription;

  constructor(
    nc: NatsConnection,
    subject: string,
    private readonly runId: string,
    private readonly log: Logger,
    /** Aborting it counts as a stop ('shutdown') and ends a pause. */
    private readonly signal: AbortSignal,
    /** Called once, at the first stop request or shutdown. */
    private readonly onStop?: (reason: string) => void,
  ) {
    signal.addEventListener('abort', () => this.requestStop('shutdown'), { once: true });
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const c = decodeMessage(controlSchema, msg.data, `control message on ${msg.subject}`);
          if (c.run !== this.runId) {
            this.log.warn('ignoring a control message for another run', { type: c.type, run: c.run });
            return;
          }
          this.log.info('control', { type: c.type, reason: c.reason ?? null });
          if (c.type === 'pause') this.paused = true;
          if (c.type === 'resume') this.paused = false;
          if (c.type === 'stop') this.requestStop(c.reason ?? 'stop requested');
          this.wake?.();
        } catch (e) {
          this.log.warn('ignoring a malformed control message', { error: e });
        }
      },
    });
    if (signal.aborted) this.requestStop('shutdown');
  }

  /** A stop was requested (control message or shutdown): finish at the next boundary. */
  get stopRequested(): boolean {
    return this.stopReason !== undefined;
  }

  get isPaused(): boolean {
    return this.paused && !this.stopRequested;
  }

  /**
   * At a boundary: while paused (and not stopped), waits for resume; true when it did wait (the
   * caller re-checks what may have changed meanwhile, such as the live workers).
   */
  async holdWhilePaused(hooks: PauseHooks): Promise<boolean> {
    if (!this.isPaused) return false;
    await hooks.onPause();
    while (this.isPaused) await new Promise<void>((r) => { this.wake = r; });
    this.wake = undefined;
    await hooks.onResume();
    return true;
  }

  close(): void {
    this.sub.unsubscribe();
    this.wake?.();
  }

  private requestStop(reason: string): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.onStop?.(reason);
    this.wake?.();
  }
}
