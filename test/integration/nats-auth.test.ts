// NATS authentication, TLS and per-role subject permissions on a real nats-server started with
// the configuration `gantry nats-config` writes (users by password and by nkey, TLS with client
// certificates from `gantry certs`' logic). A role reaches its own subjects; publishing or
// subscribing outside its allow lists is refused and delivers nothing; an anonymous client, a
// wrong password and a client without TLS are refused; the scheduler keeps its run state in KV.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { connectNats, NatsConnectError } from '../../services/control/connection.ts';
import { loadNatsAuth } from '../../services/control/nats-auth.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { runSubjects, workerCmdSubject } from '../../services/control/subjects.ts';
import { openWorkersBucket, startRegistration, WorkerRoster } from '../../services/control/worker-registry.ts';
import { startNatsServer, type NatsServerProcess } from '../../services/launcher/nats-server.ts';
import { issueCertificates, writeCertificates } from '../../services/security/certs.ts';
import { SecuritySettingError } from '../../services/security/errors.ts';
import { credentialFileName, makeCredentials, type NatsCredential, writeNatsConfig } from '../../services/control/nats-config.ts';
import { quietLog } from '../harness/cluster.ts';
import { tempDir, waitFor } from '../harness/nats.ts';

const RUN = 'auth-run';
const s = runSubjects(RUN);

let dir: string;
let server: NatsServerProcess;
let creds: NatsCredential[];
const open: NatsConnection[] = [];

before(async () => {
  dir = await tempDir('gantry-nats-auth-');
  await writeCertificates(dir, await issueCertificates({ roles: ['nats', 'generator', 'discriminator', 'worker', 'scheduler', 'operator'], days: 1 }));
  // Passwords for three roles, an nkey for the discriminator: both kinds of user in one server.
  creds = [...makeCredentials(['generator', 'worker', 'scheduler', 'operator'], 'password'), ...makeCredentials(['discriminator'], 'nkey')];
  const conf = path.join(dir, 'conf');
  await writeNatsConfig(conf, {
    run: RUN, // the store directory and the port come from startNatsServer's flags
    tls: { certFile: path.join(dir, 'nats.crt'), keyFile: path.join(dir, 'nats.key'), caFile: path.join(dir, 'ca.crt'), verify: true },
  }, creds);
  server = await startNatsServer({ storeDir: path.join(dir, 'js'), configFile: path.join(conf, 'nats-server.conf') });
});

after(async () => {
  for (const nc of open) await nc.close().catch(() => undefined);
  await server?.stop(2_000);
  await rm(dir, { recursive: true, force: true });
});

/** A role's connection exactly as a service makes it: settings -> loadNatsAuth -> connectNats. */
async function as(role: string): Promise<NatsConnection> {
  const c = creds.find((x) => x.role === role)!;
  const file = path.join(dir, 'conf', credentialFileName(c));
  const auth = await loadNatsAuth({
    ...(c.nkeySeed ? { natsNkeyFile: file } : { natsUser: c.user, natsPasswordFile: file }),
    natsTlsCa: path.join(dir, 'ca.crt'), natsTlsCert: path.join(dir, `${role}.crt`), natsTlsKey: path.join(dir, `${role}.key`),
  });
  const nc = await connectNats(server.url, { name: `test-${role}`, log: quietLog, auth, timeoutMs: 5_000 });
  open.push(nc);
  return nc;
}

/** Permission errors the server reports on this connection. */
function violations(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === 'error' && st.error instanceof PermissionViolationError) seen.push(st.error);
  })();
  return seen;
}

const tlsOnly = () => ({ caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'operator.crt'), keyFile: path.join(dir, 'operator.key') });

test('an anonymous client, a wrong password and a client without TLS are refused', async () => {
  await assert.rejects(connect({ servers: server.url, tls: tlsOnly(), reconnect: false, timeout: 3_000 }), /Authorization Violation/i);
  await assert.rejects(connect({ servers: server.url, tls: tlsOnly(), user: 'generator', pass: 'not-the-password', reconnect: false, timeout: 3_000 }),
    /Authorization Violation/i);
  const c = creds.find((x) => x.role === 'generator')!;
  // The server requires TLS (its INFO says so): a client that cannot verify it gets no session...
  await assert.rejects(connect({ servers: server.url, user: 'generator', pass: c.password, reconnect: false, timeout: 3_000 }));
  // ...and neither does one with the right password and the CA but no client certificate (verify: true).
  await assert.rejects(connect({ servers: server.url, user: 'generator', pass: c.password, tls: { caFile: path.join(dir, 'ca.crt') }, reconnect: false, timeout: 3_000 }));
  // The same login with a client certificate is accepted: the refusals above were about TLS.
  const ok = await connect({ servers: server.url, user: 'generator', pass: c.password, tls: tlsOnly(), reconnect: false, timeout: 3_000 });
  await ok.close();
  // connectNats does not retry a refused login for its whole timeout, and says who it tried to be.
  await assert.rejects(connectNats(server.url, { name: 't', log: quietLog, timeoutMs: 20_000, auth: { user: 'generator', pass: 'wrong', tls: tlsOnly() } }),
    (e: unknown) => e instanceof NatsConnectError && /refused the login as user "generator"/.test(e.message));
});

test('a role publishes and subscribes on its own subjects only; refused subjects deliver nothing', async () => {
  const scheduler = await as('scheduler');
  const generator = await as('generator');
  const discriminator = await as('discriminator');
  const operator = await as('operator');
  const genErrors = violations(generator);
  const received: string[] = [];
  const collect = (nc: NatsConnection, subject: string): void => {
    nc.subscribe(subject, { callback: (_e, m) => void received.push(`${subject} <- ${m.subject}`) });
  };
  collect(scheduler, s.hbAll);
  collect(scheduler, s.control);
  collect(discriminator, s.cmd('discriminator'));
  await Promise.all([scheduler.flush(), discriminator.flush()]);

  generator.publish(s.hb('generator'), 'ok');        // allowed
  generator.publish(s.hb('scheduler'), 'forged');    // another role's heartbeat
  generator.publish(s.cmd('discriminator'), 'cmd');  // commanding a peer
  generator.publish(s.control, 'stop');              // stopping the run
  generator.publish(runSubjects('other-run').hb('generator'), 'x'); // another run
  await generator.flush();
  await waitFor(() => genErrors.length >= 4, 'four publish violations on the generator connection', 5_000);
  await scheduler.flush();
  await discriminator.flush();
  assert.deepEqual(received, [`${s.hbAll} <- ${s.hb('generator')}`]);
  assert.deepEqual(genErrors.map((e) => [e.operation, e.subject]).sort(), [
    ['publish', runSubjects('other-run').hb('generator')], ['publish', s.cmd('discriminator')], ['publish', s.control], ['publish', s.hb('scheduler')],
  ].sort());

  // Subscribing to another role's commands is refused too: the subscription closes with the violation.
  const spy = generator.subscribe(s.cmd('discriminator'));
  const closed = await spy.closed;
  assert.ok(closed instanceof PermissionViolationError && closed.operation === 'subscription', `closed with ${String(closed)}`);

  // The operator may stop the run; the scheduler hears it.
  operator.publish(s.control, 'pause');
  await operator.flush();
  await waitFor(() => received.includes(`${s.control} <- ${s.control}`), 'the operator\'s control message', 5_000);
});

test('request/reply works within the permissions: the scheduler commands, the (nkey) discriminator answers', async () => {
  const scheduler = await as('scheduler');
  const discriminator = await as('discriminator');
  discriminator.subscribe(s.cmd('discriminator'), { callback: (_e, m) => void m.respond(`ack ${m.string()}`) });
  await discriminator.flush();
  const reply = await scheduler.request(s.cmd('discriminator'), 'd-step', { timeout: 5_000 });
  assert.equal(reply.string(), 'ack d-step');
});

test('the scheduler keeps its run state in JetStream KV under its permissions', async () => {
  const scheduler = await as('scheduler');
  const store = await RunStateStore.open(scheduler, { create: true });
  assert.equal(await store.get(RUN), null);
  const created = await store.create({
    runId: RUN, status: 'running', iteration: 0, iterations: 10, lastCheckpoint: null, generation: 1, configHash: '0'.repeat(64), scheduler: null,
  });
  const updated = await store.update(created, { iteration: 3 });
  assert.equal((await store.get(RUN))?.state.iteration, 3);
  assert.equal((await store.get(RUN))?.revision, updated.revision);
  assert.deepEqual(await store.runIds(), [RUN]);
  // The operator (gantry status, gantry run) reads the same state.
  const operator = await RunStateStore.open(await as('operator'), { create: false });
  assert.equal((await operator.get(RUN))?.state.iteration, 3);
  assert.deepEqual(await operator.runIds(), [RUN]);
  // The scheduler's JetStream reach ends at the runs bucket: it cannot make another bucket.
  await assert.rejects(new Kvm(scheduler).create('not_the_runs_bucket'), /Permissions Violation for Publish to "\$JS\.API\.STREAM\.INFO\.KV_not_the_runs_bucket"/);
  // A service's user reaches no JetStream API: it cannot read or rewrite the run state.
  const generator = await as('generator');
  await assert.rejects((async () => (await RunStateStore.open(generator, { create: false })).get(RUN))(), /Permissions Violation/);
});

test('a worker registers in the workers bucket and answers the scheduler\'s commands; it cannot command, beat or touch the run state', async () => {
  const scheduler = await as('scheduler');
  const worker = await as('worker');
  const errors = violations(worker);
  // Registration: the worker writes its key in gantry_workers, the scheduler's roster sees it.
  const roster = await new WorkerRoster(await openWorkersBucket(scheduler), RUN, quietLog).start();
  const reg = startRegistration(await openWorkersBucket(worker), { run: RUN, key: 'w1', addr: '127.0.0.1:50053' },
    () => ({ ready: true, generation: null, rank: null, applied: null }), 200, quietLog);
  try {
    assert.ok(await roster.waitUntil(() => roster.live(2_000).length === 1, 10_000), 'the scheduler sees the registration');
    assert.equal(roster.live(2_000)[0].reg.key, 'w1');
    // Commands: the scheduler's request reaches the worker's subject, the reply comes back.
    worker.subscribe(workerCmdSubject(RUN, 'w1'), { callback: (_e, m) => void m.respond(`ack ${m.string()}`) });
    await worker.flush();
    assert.equal((await scheduler.request(workerCmdSubject(RUN, 'w1'), 'prepare', { timeout: 5_000 })).string(), 'ack prepare');
    // What the worker may not do: command a peer, forge a heartbeat, stop the run, write another run's registration.
    worker.publish(workerCmdSubject(RUN, 'w2'), 'step');
    worker.publish(s.hb('scheduler'), 'forged');
    worker.publish(s.control, 'stop');
    worker.publish(`$KV.gantry_workers.other-run.w1`, 'x');
    await worker.flush();
    await waitFor(() => errors.length >= 4, 'four publish violations on the worker connection', 5_000);
    assert.deepEqual(errors.map((e) => [e.operation, e.subject]).sort(), [
      ['publish', '$KV.gantry_workers.other-run.w1'], ['publish', s.control], ['publish', s.hb('scheduler')], ['publish', workerCmdSubject(RUN, 'w2')],
    ].sort());
    // And it reaches no JetStream API of the runs bucket: no run state.
    await assert.rejects((async () => (await RunStateStore.open(worker, { create: false })).get(RUN))(), /Permissions Violation/);
    // Its clean leave (a delete) is allowed and seen.
    await reg.leave();
    assert.ok(await roster.waitUntil(() => roster.live(2_000).length === 0, 10_000), 'the scheduler sees the leave');
    assert.deepEqual(roster.takeLeft(), ['w1']);
  } finally {
    await reg.leave();
    roster.stop();
  }
});

test('credential settings: an nkey with a password, a password without a user, a file that is not a seed', async () => {
  await assert.rejects(loadNatsAuth({ natsNkeyFile: 'x', natsUser: 'u' }), (e: unknown) => e instanceof SecuritySettingError && e.kind === 'conflict');
  await assert.rejects(loadNatsAuth({ natsPasswordFile: 'x' }), (e: unknown) => e instanceof SecuritySettingError && e.field === 'natsUser');
  const pw = path.join(dir, 'conf', credentialFileName(creds[0]));
  await assert.rejects(loadNatsAuth({ natsNkeyFile: pw }), (e: unknown) => e instanceof SecuritySettingError && e.kind === 'malformed' && e.file === pw);
  await assert.rejects(loadNatsAuth({ natsTlsCert: 'c.crt' }), (e: unknown) => e instanceof SecuritySettingError && e.field === 'natsTlsKey');
});
