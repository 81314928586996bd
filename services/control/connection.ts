// Connecting to NATS. A service may start before the server (compose and Kubernetes start
// containers in any order), so the first connect is retried until a deadline; after that the
// client reconnects forever and logs each disconnect, since the control plane is useless without it.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../telemetry/log.ts';

export interface ConnectOptions {
  /** Shown by the server (`nats server report connections`), e.g. "gantry-generator". */
  name: string;
  log: Logger;
  /** How long to keep retrying the first connect. */
  timeoutMs?: number;
}

export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
}

export async function connectNats(url: string, opts: ConnectOptions): Promise<NatsConnection> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastErr: unknown;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      const nc = await connect({
        servers: url,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: Math.max(500, Math.min(5_000, deadline - Date.now())),
      });
      watchStatus(nc, opts.log);
      return nc;
    } catch (err) {
      lastErr = err;
      if (attempt === 0) opts.log.info('waiting for the NATS server', { url });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new NatsConnectError(
    `cannot connect to NATS at ${url} within ${opts.timeoutMs ?? 30_000} ms: ${(lastErr as Error | undefined)?.message ?? 'no attempt'}`,
    { cause: lastErr },
  );
}

function watchStatus(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') log.warn('disconnected from NATS', { server: s.server });
      else if (s.type === 'reconnect') log.info('reconnected to NATS', { server: s.server });
      else if (s.type === 'error') log.warn('NATS error', { error: s.error });
    }
  })().catch(() => undefined);
}

/** Drains (delivers pending messages, then closes); never throws on an already closed connection. */
export async function closeNats(nc: NatsConnection | undefined): Promise<void> {
  if (!nc || nc.isClosed()) return;
  try {
    await nc.drain();
  } catch {
    await nc.close().catch(() => undefined);
  }
}
