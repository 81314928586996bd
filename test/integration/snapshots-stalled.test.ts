// The scheduler's weight streams (scheduler/snapshots.ts) against a peer that accepts TCP and
// never answers: the deadline runs out. Whether that is the peer's fault depends on whether the
// scheduler itself ran meanwhile: a pull whose call spanned the scheduler's own stall (trust moved
// past the call's start) is made again (bounded); otherwise, and always for a push (the service
// admits an armed snapshot once), the peer is lost.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ServiceLost } from '../../services/scheduler/fleet.ts';
import { ServiceSnapshots } from '../../services/scheduler/snapshots.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { LineSink } from '../harness/cluster.ts';
import { makeSnapshot } from '../unit/run-fixtures.ts';

let silent: net.Server;
let addr: string;
const sockets = new Set<net.Socket>();

before(async () => {
  silent = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  addr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

function snapshots(trustedSince: () => number) {
  const sink = new LineSink();
  const log = createLogger({ component: 'test', stream: sink, format: 'json' });
  const s = new ServiceSnapshots({
    generatorAddr: addr, discriminatorAddrs: [addr], deadlineMs: 300, instanceOf: () => 'instance-1', trustedSince, log,
  });
  return { s, retries: () => sink.count(/did not run during a call/) };
}

test('a pull that timed out while the scheduler ran: the peer is lost at once', async () => {
  const { s, retries } = snapshots(() => 0);
  try {
    await assert.rejects(s.pull('generator', 3, 1), (err: unknown) => err instanceof ServiceLost && err.role === 'generator' && /did not answer over gRPC/.test(err.message));
    assert.equal(retries(), 0);
  } finally {
    s.close();
  }
});

test('a pull that timed out across the scheduler\'s own stall is made again, 3 times at most, then the peer is lost', async () => {
  const { s, retries } = snapshots(() => Date.now() + 1); // every call spans a stall
  try {
    await assert.rejects(s.pull('discriminator', 3, 1), (err: unknown) => err instanceof ServiceLost && err.role === 'discriminator');
    assert.equal(retries(), 3);
  } finally {
    s.close();
  }
});

test('a push is never repeated, stall or not', async () => {
  const { s, retries } = snapshots(() => Date.now() + 1);
  const snapshot = makeSnapshot('generator', 1);
  try {
    await assert.rejects(s.push('generator', snapshot, 3, 1), (err: unknown) => err instanceof ServiceLost && err.role === 'generator');
    assert.equal(retries(), 0);
  } finally {
    s.close();
  }
});
