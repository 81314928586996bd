// A distributed run with the planes secured as a deployment would secure them: certificates from
// `gantry certs` (bound to the run), gRPC with mutual TLS between real generator and discriminator
// processes, and nats-server with TLS, client certificates and the per-role users and subject
// permissions of `gantry nats-config`. The run completes and ends with the same weights as the
// in-process trainer (security changes nothing in the math). Then: a third party holding a
// certificate of the run's CA, but of the scheduler role, is refused by the data plane.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { loadNatsAuth } from '../../services/control/nats-auth.ts';
import { startNatsServer, type NatsServerProcess } from '../../services/launcher/nats-server.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { schedulerConfigSchema } from '../../services/scheduler/config.ts';
import { Scheduler } from '../../services/scheduler/scheduler.ts';
import { issueCertificates, writeCertificates } from '../../services/security/certs.ts';
import { credentialFileName, makeCredentials, writeNatsConfig } from '../../services/control/nats-config.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { GeneratorClient } from '../../services/wire/generator-client.ts';
import { type GrpcTls, loadGrpcTls } from '../../services/wire/tls.ts';
import { echoOnFailure, quietLog, startServices, type Services, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

const RUN = 'secure';
let root: string;
let certs: string;
let natsDir: string;
let runDir: string;
let server: NatsServerProcess;
let services: Services;
let nc: NatsConnection;
let schedulerTls: GrpcTls | undefined;

const roleTls = (role: string): Record<string, string> => ({
  GANTRY_TLS_CA: path.join(certs, 'ca.crt'), GANTRY_TLS_CERT: path.join(certs, `${role}.crt`), GANTRY_TLS_KEY: path.join(certs, `${role}.key`), GANTRY_MTLS: '1',
  GANTRY_NATS_TLS_CA: path.join(certs, 'ca.crt'), GANTRY_NATS_TLS_CERT: path.join(certs, `${role}.crt`), GANTRY_NATS_TLS_KEY: path.join(certs, `${role}.key`),
  GANTRY_NATS_USER: role, GANTRY_NATS_PASSWORD_FILE: path.join(natsDir, `nats-${role}.password`),
});

before(async () => {
  root = await tempDir('gantry-secure-run-');
  certs = path.join(root, 'certs');
  natsDir = path.join(root, 'nats');
  runDir = path.join(root, 'run');
  await fsp.mkdir(runDir);
  await writeCertificates(certs, await issueCertificates({ roles: ['nats', 'generator', 'discriminator', 'scheduler'], run: RUN, days: 1 }));
  const creds = makeCredentials(['generator', 'discriminator', 'scheduler'], 'password');
  await writeNatsConfig(natsDir, {
    run: RUN, tls: { certFile: path.join(certs, 'nats.crt'), keyFile: path.join(certs, 'nats.key'), caFile: path.join(certs, 'ca.crt'), verify: true },
  }, creds);
  assert.deepEqual(creds.map(credentialFileName), ['nats-generator.password', 'nats-discriminator.password', 'nats-scheduler.password']);
  server = await startNatsServer({ storeDir: path.join(root, 'js'), configFile: path.join(natsDir, 'nats-server.conf') });
  services = await startServices(server.url, RUN, {}, { roleEnv: { generator: roleTls('generator'), discriminator: roleTls('discriminator') } });
  const s = roleTls('scheduler');
  const auth = await loadNatsAuth({
    natsUser: 'scheduler', natsPasswordFile: s.GANTRY_NATS_PASSWORD_FILE, natsTlsCa: s.GANTRY_NATS_TLS_CA, natsTlsCert: s.GANTRY_NATS_TLS_CERT, natsTlsKey: s.GANTRY_NATS_TLS_KEY,
  });
  nc = await connectNats(server.url, { name: 'test-scheduler', log: quietLog, auth, timeoutMs: 5_000 });
  schedulerTls = await loadGrpcTls({ tlsCa: s.GANTRY_TLS_CA, tlsCert: s.GANTRY_TLS_CERT, tlsKey: s.GANTRY_TLS_KEY });
});

after(async () => {
  await closeNats(nc);
  await services?.stop();
  await server?.stop(2_000);
  await fsp.rm(root, { recursive: true, force: true });
});

test('a run over mutual TLS and authenticated NATS completes with the in-process weights', async () => {
  const train = tinyGanConfig({ out: runDir, iterations: 6, checkpointEvery: 3, sampleEvery: 6 });
  const cfg = schedulerConfigSchema.parse({ natsUrl: server.url, runId: RUN, runDir, generatorAddr: services.grpc.generator, discriminatorAddr: services.grpc.discriminator, commandTimeoutMs: 10_000, livenessMs: 5_000, recoveryTimeoutMs: 20_000, progress: false });
  const outcome = await echoOnFailure(services.output, new Scheduler(nc, cfg, train, quietLog, createSchedulerMetrics(), schedulerTls).run(new AbortController().signal));
  assert.equal(outcome.status, 'completed');
  assert.equal(outcome.iteration, 6);
  const reference = await trainReference(train, path.join(root, 'reference'));
  const report = await diffCheckpoints(path.join(reference, 'checkpoints/iter-000006'), path.join(runDir, 'checkpoints/iter-000006'), { tolerance: 1e-5 });
  assert.equal(report.status, 'equal');
  assert.equal(report.maxAbsDiff, 0);
  // Both services served TLS: their config logs show the files, and no refusal was logged.
  assert.ok(services.output.find(/^\[generator\] .*"tlsCert":/), 'the generator was configured with a certificate');
  assert.equal(services.output.find(/PeerNotAllowedError|PERMISSION_DENIED/), undefined);
});

test('a certificate of the run\'s CA but of the scheduler role cannot ask the generator for G(z)', async () => {
  const tls = await loadGrpcTls({ tlsCa: path.join(certs, 'ca.crt'), tlsCert: path.join(certs, 'scheduler.crt'), tlsKey: path.join(certs, 'scheduler.key') });
  const g = new GeneratorClient(services.grpc.generator, { tls, deadlineMs: 5_000 });
  try {
    await assert.rejects(g.generate({ runId: RUN, iteration: 0, step: 0 }, 8), (err: unknown) => {
      assert.ok(err instanceof PeerError);
      assert.equal(err.code, grpc.status.PERMISSION_DENIED);
      assert.match(err.details, /refused for role "scheduler": allowed roles: discriminator/);
      return true;
    });
  } finally {
    g.close();
  }
});
