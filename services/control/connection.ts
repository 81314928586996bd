// Connecting to NATS. A service may start before the server (compose and Kubernetes start
// containers in any order), so the first connect is retried until a deadline; after that the
// client reconnects forever and logs each disconnect, since the control plane is useless without it.
// Credentials and TLS (nats-auth.ts) go with every connection; a refused login is not retried.
import { AuthorizationError, connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsAuth } from './nats-auth.ts';
import type { Logger } from '../telemetry/log.ts';

export interface ConnectOptions {
  /** Shown by the server (`nats server report connections`), e.g. "gantry-generator". */
  name: string;
  log: Logger;
  /** How long to keep retrying the first connect. */
  timeoutMs?: number;
  /** User and password or nkey, and TLS; anonymous plaintext when absent. */
  auth?: NatsAuth;
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
        ...(opts.auth?.user !== undefined ? { user: opts.auth.user, pass: opts.auth.pass } : {}),
        ...(opts.auth?.nkeySeed ? { authenticator: nkeyAuthenticator(opts.auth.nkeySeed) } : {}),
        ...(opts.auth?.tls ? { tls: opts.auth.tls } : {}),
      });
      watchStatus(nc, opts.log);
      return nc;
    } catch (err) {
      lastErr = err;
      // Wrong or missing credentials will not become right by waiting.
      if (isAuthError(err)) throw new NatsConnectError(`NATS at ${url} refused the login as ${loginName(opts.auth)}: ${(err as Error).message}`, { cause: err });
      if (attempt === 0) opts.log.info('waiting for the NATS server', { url });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new NatsConnectError(
    `cannot connect to NATS at ${url} within ${opts.timeoutMs ?? 30_000} ms: ${(lastErr as Error | undefined)?.message ?? 'no attempt'}`,
    { cause: lastErr },
  );
}

function isAuthError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof AuthorizationError) return true;
  return false;
}

function loginName(auth: NatsAuth | undefined): string {
  if (auth?.nkeySeed) return 'an nkey user';
  return auth?.user !== undefined ? `user ${JSON.stringify(auth.user)}` : 'an anonymous client';
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
