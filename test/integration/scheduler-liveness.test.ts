// A long command does not make a live service look dead: heartbeats stop while a service computes
// synchronously, so the scheduler gives 'eval' its own deadline and liveness window, while an
// ordinary command to the same silent service is still given up after GANTRY_LIVENESS_MS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { Fleet, ServiceLost } from '../../services/scheduler/fleet.ts';
import { quietLog } from '../harness/cluster.ts';
import { startTestNats, waitFor, type TestNats } from '../harness/nats.ts';

const BUSY_SERVICE = fileURLToPath(new URL('../harness/busy-service.ts', import.meta.url));
const RUN = 'liveness';
let nats: TestNats;
let nc: NatsConnection;
let service: ChildProcess;

before(async () => {
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
  service = spawn(process.execPath, ['--import', 'tsx', BUSY_SERVICE, nats.url, RUN], {
    env: { ...process.env, GANTRY_TEST_BUSY_MS: '1200' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(service.stdout!, 'data');
});
after(async () => {
  service?.kill('SIGKILL');
  await closeNats(nc);
  await nats?.stop();
});

it("tolerates an 'eval' longer than the liveness window, and not a step command", async () => {
  const fleet = new Fleet(nc, runSubjects(RUN), { commandTimeoutMs: 10_000, livenessMs: 400, retries: 0, recoveryTimeoutMs: 5_000 }, quietLog);
  try {
    await waitFor(() => fleet.members.isFresh('generator', 400), 'heartbeats of the stand-in generator');
    const reply = await fleet.call('generator', 'eval', { iteration: 5 }, { timeoutMs: 10_000, livenessMs: 10_000 });
    assert.equal(reply.iteration, 5);
    assert.equal(reply.scores, null);
    await waitFor(() => fleet.members.isFresh('generator', 400), 'heartbeats again after the eval');
    await assert.rejects(fleet.call('generator', 'sample', { iteration: 5 }), (err: unknown) => {
      assert.ok(err instanceof ServiceLost, String(err));
      assert.match(err.message, /no heartbeat for 400 ms while waiting for 'sample' \(dead, or computing one step for longer .*GANTRY_LIVENESS_MS/);
      return true;
    });
  } finally {
    fleet.stop();
  }
});
