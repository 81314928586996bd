// The scheduler's vantage (services/scheduler/vantage.ts) on a real nats-server: its own stall
// (a blocked event loop) restarts the moment from which silence counts; a stopped nats-server
// fails the PING that comes before any blame and makes the view blind until it answers again.
// A member that stalled at the same time is still named: its heartbeats carry its own stalls.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { startHeartbeats } from '../../services/control/heartbeat.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { Fleet } from '../../services/scheduler/fleet.ts';
import { Vantage } from '../../services/scheduler/vantage.ts';
import { createLogger } from '../../services/telemetry/log.ts';
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

it('a member that stalled while the scheduler did is named from its own heartbeat report', async () => {
  // One process plays both: blocking its event loop stalls the scheduler's fleet and the
  // discriminator's heartbeat publisher alike, the double fault the scheduler cannot watch.
  const stream = new PassThrough();
  const records: { level: string; msg: string; role?: string; stallMs?: number }[] = [];
  stream.on('data', (b: Buffer) => { for (const l of b.toString().split('\n').filter(Boolean)) records.push(JSON.parse(l)); });
  const log = createLogger({ component: 'scheduler', format: 'json', level: 'info', stream });
  const subjects = runSubjects('stall-run');
  const fleet = new Fleet(nc, subjects, { commandTimeoutMs: 3_000, livenessMs: 800, retries: 1, recoveryTimeoutMs: 5_000 }, log);
  const hb = startHeartbeats(nc, subjects, { role: 'discriminator', instance: 'd-1' }, () => ({ generation: 1, ready: true }), 100);
  try {
    await waitFor(() => fleet.members.get('discriminator') !== undefined, 'a first heartbeat', 5_000);
    assert.equal(fleet.members.stallsOf('d-1'), 0);
    const t0 = Date.now();
    while (Date.now() - t0 < 1_500) { /* both stall */ }
    await waitFor(() => records.some((r) => r.msg.startsWith('discriminator stalled:')), 'the stall to be named', 5_000);
    const blame = records.find((r) => r.msg.startsWith('discriminator stalled:'))!;
    assert.equal(blame.level, 'warn');
    assert.equal(blame.role, 'discriminator');
    assert.ok(blame.stallMs! >= 1_500, `reported ${blame.stallMs} ms`);
    assert.ok(records.some((r) => r.msg.startsWith('the scheduler itself did not run')), 'the scheduler names its own stall too');
    assert.equal(fleet.members.stallsOf('d-1'), 1);
    // The count only grows: later heartbeats repeat the report without naming the member again.
    const named = records.filter((r) => r.msg.startsWith('discriminator stalled:')).length;
    const beats = fleet.members.get('discriminator')!.beats;
    await waitFor(() => fleet.members.get('discriminator')!.beats >= beats + 3, 'three more heartbeats', 5_000);
    assert.equal(records.filter((r) => r.msg.startsWith('discriminator stalled:')).length, named);
  } finally {
    hb.stop();
    fleet.stop();
  }
});
