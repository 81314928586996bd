// Which addresses a listener may bind. A plaintext gRPC listener on anything but loopback lets
// every host that can reach it call the data plane, so a service refuses one unless TLS is on or
// the operator says --insecure (GANTRY_INSECURE) explicitly, e.g. inside a private container
// network. Metrics are plain HTTP by design (Prometheus scrapes them) and bind where configured.
import { isIP } from 'node:net';
import { InsecureListenerError } from './errors.ts';

/** True for localhost, 127.0.0.0/8 and ::1 (also written [::1] or as ::ffff:127.x.y.z). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

export function listenAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Throws InsecureListenerError for a plaintext listener on a non-loopback host without `insecure`. */
export function assertListenerAllowed(host: string, port: number, opts: { tls: boolean; insecure: boolean }): void {
  if (opts.tls || opts.insecure || isLoopbackHost(host)) return;
  throw new InsecureListenerError(listenAddress(host, port));
}
