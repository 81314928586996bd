// The pure rules of services/security and the data-plane policy: which hosts count as loopback,
// how a certificate's identity is read, which roles may call which method, and the NATS subject
// permissions each role gets (derived from services/control/subjects.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSubjects } from '../../services/control/subjects.ts';
import { CertificateRequestError, InsecureListenerError } from '../../services/security/errors.ts';
import { identityUri, parseIdentityUri, peerIdentity } from '../../services/security/identity.ts';
import { assertListenerAllowed, isLoopbackHost } from '../../services/security/listeners.ts';
import { makeCredentials, renderNatsServerConfig, rolePermissions } from '../../services/control/nats-config.ts';
import { issueCertificates } from '../../services/security/certs.ts';
import { allowedRoles, authorizePeer, RUN_ROLES } from '../../services/wire/peer-auth.ts';
import { PeerNotAllowedError, toStatus } from '../../services/wire/errors.ts';
import * as grpc from '@grpc/grpc-js';

test('loopback hosts; a plaintext listener elsewhere needs TLS or insecure', () => {
  for (const h of ['127.0.0.1', '127.3.2.1', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'gantry-generator', 'localhost.example.com', '']) assert.ok(!isLoopbackHost(h), h);
  assert.doesNotThrow(() => assertListenerAllowed('127.0.0.1', 1, { tls: false, insecure: false }));
  assert.doesNotThrow(() => assertListenerAllowed('0.0.0.0', 1, { tls: true, insecure: false }));
  assert.doesNotThrow(() => assertListenerAllowed('0.0.0.0', 1, { tls: false, insecure: true }));
  assert.throws(() => assertListenerAllowed('::', 50051, { tls: false, insecure: false }),
    (e: unknown) => e instanceof InsecureListenerError && e.address === '[::]:50051' && e.flag === '--insecure' && e.env === 'GANTRY_INSECURE');
});

test('identities: SPIFFE URIs with and without a run; the URI wins over the CN; none without either', () => {
  assert.equal(identityUri('generator', 'r1'), 'spiffe://gantry/r1/generator');
  assert.deepEqual(parseIdentityUri('spiffe://gantry/r1/generator'), { run: 'r1', role: 'generator', source: 'uri' });
  assert.deepEqual(parseIdentityUri('spiffe://gantry/worker'), { role: 'worker', source: 'uri' });
  for (const bad of ['spiffe://other/r1/generator', 'spiffe://gantry/a/b/c', 'spiffe://gantry/', 'spiffe://gantry/r 1/g', 'https://gantry/r1/g']) {
    assert.equal(parseIdentityUri(bad), undefined, bad);
  }
  const san = 'DNS:localhost, IP Address:127.0.0.1, URI:https://example.com/x, URI:spiffe://gantry/r1/discriminator';
  assert.deepEqual(peerIdentity({ subject: { CN: 'generator' } as never, subjectaltname: san }), { run: 'r1', role: 'discriminator', source: 'uri' });
  assert.deepEqual(peerIdentity({ subject: { CN: 'scheduler' } as never, subjectaltname: 'DNS:localhost' }), { role: 'scheduler', source: 'cn' });
  assert.equal(peerIdentity({ subject: { CN: 'not a role' } as never, subjectaltname: '' }), undefined);
  assert.equal(peerIdentity(undefined), undefined);
});

test('peer policy: each data-plane method names its callers; unknown methods admit the run\'s roles; refusals are PERMISSION_DENIED', () => {
  assert.deepEqual(allowedRoles('GeneratorService/Generate'), ['discriminator']);
  assert.deepEqual(allowedRoles('DiscriminatorService/GeneratorGrad'), ['generator', 'discriminator'], 'rank 0 of a replica group fans the G-step out');
  assert.deepEqual(allowedRoles('DiscriminatorService/LoadWeights'), ['scheduler']);
  assert.deepEqual(allowedRoles('WorkerService/AllReduce'), RUN_ROLES);
  assert.deepEqual(allowedRoles('toString'), RUN_ROLES, 'no prototype keys');
  const call = (san: string | undefined) => ({ getAuthContext: () => (san === undefined ? {} : { sslPeerCertificate: { subject: { CN: 'x' }, subjectaltname: san } as never }) });
  assert.equal(authorizePeer(call('URI:spiffe://gantry/r1/discriminator'), 'GeneratorService/Generate', 'r1').role, 'discriminator');
  assert.equal(authorizePeer(call('URI:spiffe://gantry/discriminator'), 'GeneratorService/Generate', 'r1').role, 'discriminator', 'a run-free certificate');
  assert.throws(() => authorizePeer(call(undefined), 'GeneratorService/Generate', 'r1'), (e: unknown) => e instanceof PeerNotAllowedError && e.seen === undefined);
  assert.throws(() => authorizePeer(call('URI:spiffe://gantry/r2/discriminator'), 'GeneratorService/Generate', 'r1'), /certificate is for run "r2"/);
  let refusal: unknown;
  try {
    authorizePeer(call('URI:spiffe://gantry/r1/generator'), 'GeneratorService/Generate', 'r1');
  } catch (e) {
    refusal = e;
  }
  assert.ok(refusal instanceof PeerNotAllowedError);
  assert.deepEqual([refusal.seen, refusal.allowed], ['generator', ['discriminator']]);
  const status = toStatus(refusal);
  assert.equal(status.code, grpc.status.PERMISSION_DENIED);
  assert.equal(status.details, 'GeneratorService/Generate refused for role "generator": allowed roles: discriminator');
});

test('NATS permissions follow the run\'s subjects; the config lists one user per role', () => {
  const s = runSubjects('r1');
  const g = rolePermissions('generator', { run: 'r1' });
  assert.deepEqual(g, { publish: [s.hb('generator')], subscribe: [s.cmd('generator')], allowResponses: true });
  const sched = rolePermissions('scheduler', { run: 'r1' });
  assert.ok(sched.publish.includes(s.progress) && sched.publish.includes('gantry.r1.cmd.*'));
  assert.ok(sched.subscribe.includes(s.hbAll) && sched.subscribe.includes(s.control));
  const op = rolePermissions('operator', { prefix: 'lab.a' });
  assert.equal(op.publish[0], 'lab.a.*.control');
  assert.ok(op.publish.includes('$JS.API.*.*.KV_gantry_runs') && !op.publish.includes('$JS.API.>'), 'JetStream: the runs bucket only');
  assert.deepEqual(rolePermissions('critic').subscribe, ['gantry.*.cmd.critic'], 'a new service role gets the service pattern');
  const w = rolePermissions('worker', { run: 'r1' });
  assert.deepEqual(w.subscribe, ['gantry.r1.cmd.worker.*', '_INBOX.>']);
  assert.ok(w.publish.includes('$KV.gantry_workers.r1.>') && w.publish.includes('$JS.API.*.*.KV_gantry_workers'), 'its registration in the workers bucket');
  assert.ok(!w.publish.some((x) => x.includes('cmd') || x.includes('KV_gantry_runs') || x.includes('.hb.')), 'no commands, no run state, no heartbeats');
  assert.ok(sched.publish.includes('gantry.r1.cmd.worker.*') && sched.publish.includes('$JS.API.*.*.KV_gantry_workers'), 'the scheduler commands workers and watches them');
  assert.throws(() => rolePermissions('generator', { run: 'a.b' }), (e: unknown) => e instanceof CertificateRequestError && e.field === 'run');
  const conf = renderNatsServerConfig({ run: 'r1' }, [...makeCredentials(['generator'], 'password'), ...makeCredentials(['scheduler'], 'nkey')]);
  assert.match(conf, /user: "generator", password: "[A-Za-z0-9_-]{32}"/);
  assert.match(conf, /nkey: "U[A-Z2-7]{55}"/);
  assert.match(conf, /jetstream: enabled/);
});

test('certificate requests are validated, naming the field and the bound', async () => {
  await assert.rejects(issueCertificates({ roles: [] }), (e: unknown) => e instanceof CertificateRequestError && e.field === 'roles');
  await assert.rejects(issueCertificates({ roles: ['g', 'g'] }), /duplicates/);
  await assert.rejects(issueCertificates({ days: 0 }), (e: unknown) => e instanceof CertificateRequestError && /from 1 to 3650, found 0/.test(e.message));
  await assert.rejects(issueCertificates({ run: 'a/b' }), (e: unknown) => e instanceof CertificateRequestError && e.field === 'run');
  await assert.rejects(issueCertificates({ hosts: ['a b'] }), (e: unknown) => e instanceof CertificateRequestError && e.field === 'hosts');
});
