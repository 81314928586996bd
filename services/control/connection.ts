// Connecting to NATS. A service may start before the server (compose and Kubernetes start
// containers in any order), so the first connect is retried until a deadline; after that the
// client reconnects forever and logs each disconnect, since the control plane is useless without it.
// Credentials and TLS (nats-auth.ts) go with every connection; a refused login is not retried.
import { AuthorizationError, connect, nkeyAuthenticator, type NatsConnection, TimeoutError } from '@nats-io/transport-node';
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

/** One connect attempt: a local server answers in milliseconds, so longer means it is stalled. */
const ATTEMPT_MS = 2_000;

export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
}

export async function connectNats(url: string, opts: ConnectOptions): Promise<NatsConnection> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastErr: unknown;
  let stalled = false;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    try {
      const nc = await connect({
        servers: url,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: Math.max(500, Math.min(ATTEMPT_MS, deadline - Date.now())),
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
      // Refused: no server there yet (a normal start-up order). Timed out: a server took the
      // connection but did not speak, i.e. it is stalled; said once, so the stall has a name.
      if (isTimeout(err) && !stalled) {
        stalled = true;
        opts.log.warn(`NATS does not answer: ${url} took the connection but sent nothing within ${ATTEMPT_MS} ms; retrying`, { url });
      } else if (attempt === 0) {
        opts.log.info('waiting for the NATS server', { url });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new NatsConnectError(
    `cannot connect to NATS at ${url} within ${opts.timeoutMs ?? 30_000} ms: ${(lastErr as Error | undefined)?.message ?? 'no attempt'}`,
    { cause: lastErr },
  );
}

function isTimeout(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof TimeoutError) return true;
  return false;
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
