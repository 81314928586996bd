// How a control-plane process ends: on SIGINT/SIGTERM, or when the local launcher that started it
// is gone (GANTRY_PARENT_PID), so a crashed launcher leaves no service running behind it.
import type { Logger } from '../telemetry/log.ts';

const PARENT_POLL_MS = 1_000;

/** `gantry serve ROLE` exit codes the launchers act on (any other non-zero code is a crash). */
export const EXIT_CODES = {
  /** The configuration was refused: a restart would refuse again. */
  usage: 2,
  /** A port it was told to listen on is taken: the launcher moves it to another port. */
  addressInUse: 3,
} as const;

/** A listen that failed because the address is taken (EADDRINUSE anywhere in the cause chain). */
export function isAddressInUse(err: unknown): boolean {
  for (let cur: unknown = err, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    if ((cur as NodeJS.ErrnoException).code === 'EADDRINUSE') return true;
  }
  return false;
}

/** An AbortSignal that fires on the first SIGINT or SIGTERM (or when the parent pid disappears). */
export function shutdownSignal(log: Logger, parentPid?: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return;
    log.info('shutting down', { signal: sig });
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let timer: NodeJS.Timeout | undefined;
  if (parentPid !== undefined) {
    timer = setInterval(() => {
      if (parentAlive(parentPid)) return;
      log.warn('the launcher that started this process is gone; shutting down', { parentPid });
      controller.abort(new Error(`parent ${parentPid} exited`));
    }, PARENT_POLL_MS);
    timer.unref();
  }
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (timer) clearInterval(timer);
    },
  };
}

function parentAlive(pid: number): boolean {
  if (process.ppid !== pid) return false; // re-parented: the launcher died
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `signal` aborts. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
