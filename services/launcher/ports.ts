// Free loopback ports for child processes that must be told their port before they start (the
// peer's gRPC address comes from config, and a restarted child binds the same port again).
//
// A port is released between the check and the child's bind, and again while a killed child is
// restarted. Ports handed out by bind(0) lie in the kernel's ephemeral range, which is also where
// every outgoing connection on the machine takes its local port: any connect() in that window
// can take the port, and a long-lived one (a NATS or gRPC client) keeps it. So on Linux the ports
// come from below the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), where only an
// explicit bind can land; each is checked free by binding it. Elsewhere, or when that range is
// too small, bind(0) it is.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';
/** The lowest port handed out: above the registered ports most local tools use (3000, 4222, 9090...). */
const LOW = 20_000;
const MIN_SPAN = 1_000;
const TRIES = 50;

/** Ports handed out by this process, never handed out twice. */
const given = new Set<number>();

/** [low, high) below the ephemeral range, or undefined to fall back to bind(0). */
export function stableRange(rangeFile = EPHEMERAL_RANGE_FILE): [number, number] | undefined {
  let text: string;
  try {
    text = readFileSync(rangeFile, 'utf8');
  } catch {
    return undefined;
  }
  const ephemeralLow = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isInteger(ephemeralLow) || ephemeralLow - LOW < MIN_SPAN) return undefined;
  return [LOW, ephemeralLow];
}

/** Listens on host:port and closes again; resolves with the port bound (port 0: the kernel's choice). */
function probe(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (bound > 0 ? resolve(bound) : reject(new Error('no port assigned'))));
    });
  });
}

export async function freePort(host = '127.0.0.1', range = stableRange()): Promise<number> {
  if (range) {
    const [low, high] = range;
    for (let i = 0; i < TRIES; i++) {
      const port = low + Math.floor(Math.random() * (high - low));
      if (given.has(port)) continue;
      try {
        await probe(port, host);
        given.add(port);
        return port;
      } catch {
        // taken: try another
      }
    }
  }
  return probe(0, host);
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}
