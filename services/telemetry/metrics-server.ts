// A process's /metrics endpoint (Prometheus text format from its own Registry), /healthz
// (liveness only: the process answers HTTP; readiness is the gRPC health service), and any extra
// read-only routes the process adds (the scheduler's /samples/latest.png for dashboards).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A body for an extra GET route, or undefined for 404 (e.g. no sample grid written yet). */
export type RouteHandler = () => Promise<{ contentType: string; body: Buffer } | undefined>;

export interface MetricsServer {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  close(): Promise<void>;
}

async function handle(registry: Registry, routes: Record<string, RouteHandler>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end(`${req.method} not allowed\n`);
    return;
  }
  if (path === '/metrics') {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  const found = route ? await route() : undefined;
  if (found) {
    // no-store: a dashboard re-reading the URL must get the newest grid, not a cached one.
    res.writeHead(200, { 'content-type': found.contentType, 'cache-control': 'no-store', 'content-length': found.body.length });
    res.end(req.method === 'HEAD' ? undefined : found.body);
    return;
  }
  const known = ['/metrics', '/healthz', ...Object.keys(routes)].join(', ');
  res.writeHead(404, { 'content-type': 'text/plain' }).end(route ? `${path}: nothing there yet\n` : `no such path ${path}; try ${known}\n`);
}

/** Serves `registry` (and `routes`) on host:port (port 0 picks a free one). */
export async function startMetricsServer(
  registry: Registry, port = 0, host = '127.0.0.1', routes: Record<string, RouteHandler> = {},
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(registry, routes, req, res).catch((err: unknown) => {
      // A collect() callback failed: answer 500 rather than leaving the scrape hanging.
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`metrics server: cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
