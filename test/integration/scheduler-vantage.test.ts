// The scheduler's vantage (services/scheduler/vantage.ts) on a real nats-server: its own stall
// (a blocked event loop) restarts the moment from which silence counts; a stopped nats-server
// fails the PING that comes before any blame and makes the view blind until it answers again.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { Vantage } from '../../services/scheduler/vantage.ts';
import { quietLog } from '../harness/cluster.ts';
import { startTestNats, type TestNats, waitFor } from '../harness/nats.ts';

let nats: TestNats;
let nc: NatsConnection;
let vantage: Vantage;

before(async () => {
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
  vantage = new Vantage(nc, quietLog);
});
after(async () => {
  vantage?.stop();
  await closeNats(nc);
  await nats?.stop();
});

it('a blocked event loop (the scheduler stalled) restarts the moment from which silence counts', async () => {
  await new Promise((r) => setTimeout(r, 300));
  const before = vantage.trustedSince();
  const t0 = Date.now();
  while (Date.now() - t0 < 1_500) { /* the stall: nothing else runs */ }
  const after = vantage.trustedSince();
  assert.ok(after >= t0 + 1_500, `trusted from ${after - t0} ms after the stall began (was ${before - t0})`);
  assert.equal(vantage.blind(), undefined);
});

it('a stopped nats-server fails the PING (blind), and is trusted again once it answers', async () => {
  assert.equal(await vantage.confirmSilence(), true, 'a running server answers');
  process.kill(-nats.server.pid, 'SIGSTOP');
  try {
    // A PONG the server wrote just before it stopped may still be on its way: let it land first.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await vantage.confirmSilence(), false, 'a stopped server does not');
    assert.equal(vantage.blind(), 'nats-stalled');
  } finally {
    process.kill(-nats.server.pid, 'SIGCONT');
  }
  const resumed = Date.now();
  await waitFor(() => vantage.blind() === undefined, 'the view to clear once NATS answers', 5_000);
  assert.ok(vantage.trustedSince() >= resumed, 'silence counts only from when NATS answered again');
  assert.equal(await vantage.confirmSilence(), true);
});
