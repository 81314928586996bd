// The control plane against a real nats-server: command round trips, validation errors naming the
// field, unavailable roles, serial handling, heartbeats, and compare-and-set run state.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient, serveCommands } from '../../services/control/commands.ts';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { CommandFailed, RoleUnavailable, RunStateConflict } from '../../services/control/errors.ts';
import { Membership, startHeartbeats } from '../../services/control/heartbeat.ts';
import { decodeMessage, encodeMessage, errorReplySchema } from '../../services/control/messages.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { NonFiniteError } from '../../services/core/errors.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { startTestNats, type TestNats } from '../harness/nats.ts';

const log = createLogger({ component: 'test', level: 'error' });
let nats: TestNats;
let nc: NatsConnection;

before(async () => {
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log });
});
after(async () => {
  await closeNats(nc);
  await nats.stop();
});

describe('step commands', () => {
  const subjects = runSubjects('cmd-run');
  let active = 0;
  let maxActive = 0;

  before(() => {
    serveCommands(nc, subjects, 'discriminator', {
      ping: async () => ({ role: 'discriminator', instance: 'i-1', generation: null }),
      'd-step': async (cmd) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        if (cmd.iteration === 7) throw new NonFiniteError('lossD', 7, Number.NaN);
        if (cmd.iteration === 9) await new Promise((r) => setTimeout(r, 500));
        return { metrics: { lossD: 1.25, dReal: 0.5, dFake: -0.5, applied: cmd.step === 0, lr: 2e-4 } };
      },
    }, log);
  });

  it('round-trips a command and validates the reply', async () => {
    const client = new CommandClient(nc, subjects);
    const reply = await client.send('discriminator', { type: 'd-step', run: 'cmd-run', generation: 1, iteration: 3, step: 0 }, 2_000);
    assert.deepEqual(reply, { ok: true, metrics: { lossD: 1.25, dReal: 0.5, dFake: -0.5, applied: true, lr: 2e-4 } });
    const ping = await client.send('discriminator', { type: 'ping', run: 'cmd-run' }, 2_000);
    assert.equal(ping.instance, 'i-1');
  });

  it('answers a malformed command with bad-request naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ type: 'd-step', run: 'cmd-run', generation: 1, iteration: -1, step: 0 }, 'iteration'],
      [{ type: 'd-step', run: 'cmd-run', generation: 1, iteration: 1, step: 0, lr: 3 }, 'lr'],
      [{ type: 'jump', run: 'cmd-run' }, 'type'],
      [{ type: 'checkpoint', run: 'cmd-run', generation: 1, iteration: 1, stagingDir: '/etc' }, 'stagingDir'],
      [{ type: 'g-step', run: 'cmd-run', generation: 1, iteration: 1, step: 1 }, 'type'], // not handled here
    ];
    for (const [body, field] of cases) {
      const msg = await nc.request(subjects.cmd('discriminator'), encodeMessage(body), { timeout: 2_000 });
      const reply = decodeMessage(errorReplySchema, msg.data, 'reply');
      assert.equal(reply.error.code, 'bad-request', JSON.stringify(body));
      assert.equal(reply.error.field, field, reply.error.message);
      assert.match(reply.error.message, new RegExp(field));
    }
    const msg = await nc.request(subjects.cmd('discriminator'), Buffer.from('{not json'), { timeout: 2_000 });
    assert.equal(decodeMessage(errorReplySchema, msg.data, 'reply').error.code, 'bad-request');
  });

  it('rejects a command for another run', async () => {
    const client = new CommandClient(nc, subjects);
    await assert.rejects(client.send('discriminator', { type: 'ping', run: 'other' }, 2_000),
      (err: unknown) => err instanceof CommandFailed && err.code === 'wrong-run');
  });

  it('maps a NonFiniteError to non-finite with quantity and iteration', async () => {
    const client = new CommandClient(nc, subjects);
    await assert.rejects(client.send('discriminator', { type: 'd-step', run: 'cmd-run', generation: 1, iteration: 7, step: 0 }, 2_000),
      (err: unknown) => err instanceof CommandFailed && err.code === 'non-finite' &&
        err.details.quantity === 'lossD' && err.details.iteration === 7);
  });

  it('reports timeouts and missing responders as RoleUnavailable', async () => {
    const client = new CommandClient(nc, subjects);
    await assert.rejects(client.send('discriminator', { type: 'd-step', run: 'cmd-run', generation: 1, iteration: 9, step: 0 }, 150),
      (err: unknown) => err instanceof RoleUnavailable && err.reason === 'timeout' && err.role === 'discriminator');
    await assert.rejects(client.send('generator', { type: 'ping', run: 'cmd-run' }, 1_000),
      (err: unknown) => err instanceof RoleUnavailable && err.reason === 'no-responders' && err.role === 'generator');
    await new Promise((r) => setTimeout(r, 500)); // let the slow handler finish
  });

  it('runs handlers one at a time', async () => {
    const client = new CommandClient(nc, subjects);
    maxActive = 0;
    const cmd = { type: 'd-step' as const, run: 'cmd-run', generation: 1, iteration: 4, step: 1 };
    await Promise.all([1, 2, 3].map(() => client.send('discriminator', cmd, 2_000)));
    assert.equal(maxActive, 1);
  });
});

describe('heartbeats', () => {
  it('tracks the latest heartbeat per role and ignores malformed ones', async () => {
    const subjects = runSubjects('hb-run');
    const members = new Membership(nc, subjects, log).start();
    await nc.flush();
    nc.publish(subjects.hb('generator'), encodeMessage({ role: 'generator', bogus: true }));
    let generation: number | null = null;
    const pub = startHeartbeats(nc, subjects, { role: 'generator', instance: 'g-1' },
      () => ({ generation, ready: true, grpcAddr: '127.0.0.1:1' }), 50);
    try {
      assert.equal(await members.waitUntil(() => members.get('generator')?.hb.ready === true, 2_000), true);
      generation = 3;
      pub.beat();
      assert.equal(await members.waitUntil(() => members.get('generator')?.hb.generation === 3, 2_000), true);
      assert.equal(members.get('generator')?.hb.instance, 'g-1');
      assert.ok(members.get('generator')!.beats >= 2);
      assert.equal(members.isFresh('discriminator', 1_000), false);
      assert.equal(await members.waitUntil(() => members.get('discriminator') !== undefined, 100), false);
    } finally {
      pub.stop();
      members.stop();
    }
  });
});

describe('run state in KV', () => {
  it('creates once and advances only by compare-and-set', async () => {
    const store = await RunStateStore.open(nc);
    const first = await store.create({
      runId: 'kv-run', status: 'running', iteration: 0, iterations: 10, lastCheckpoint: null, generation: 0,
      configHash: 'a'.repeat(64), scheduler: null,
    });
    await assert.rejects(store.create({ ...first.state }), RunStateConflict);
    const a = await store.update(first, { iteration: 1 });
    await assert.rejects(store.update(first, { iteration: 5 }), RunStateConflict); // a second scheduler's stale write
    const b = await store.update(a, { iteration: 2, lastCheckpoint: { iteration: 2, path: 'checkpoints/iter-000002' } });
    const read = await store.get('kv-run');
    assert.equal(read?.revision, b.revision);
    assert.equal(read?.state.iteration, 2);
    assert.deepEqual(read?.state.lastCheckpoint, { iteration: 2, path: 'checkpoints/iter-000002' });
    assert.equal(await store.get('missing-run'), null);
    assert.deepEqual(await store.runIds(), ['kv-run']);
  });
});
