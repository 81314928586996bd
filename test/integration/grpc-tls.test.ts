// gRPC over TLS and mutual TLS on real servers (port 0) with certificates from `gantry certs`'
// logic: the right role is served; no client certificate, a certificate from another CA, and a
// plaintext client are refused at the handshake; a role not allowed for the method, or a
// certificate bound to another run, gets PERMISSION_DENIED naming the role seen and the roles
// allowed; health stays open; a plaintext listener on a non-loopback address needs --insecure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { issueCertificates, writeCertificates, type CertBundle } from '../../services/security/certs.ts';
import { InsecureListenerError, SecuritySettingError } from '../../services/security/errors.ts';
import { checkHealth, RpcClient } from '../../services/wire/client.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { COLLECTIVE_SERVICE, GENERATOR_SERVICE, serviceDefinition } from '../../services/wire/proto.ts';
import { bidiStream, clientStream, createServer, serverStream, unary, type GantryServer, type Handler } from '../../services/wire/server.ts';
import { encodeTensor } from '../../services/wire/tensor-codec.ts';
import { loadGrpcTls, type GrpcTls } from '../../services/wire/tls.ts';
import { tempDir } from '../harness/nats.ts';

const RUN = 'tls-run';
const DEADLINE_MS = 5_000;

let dir: string;
let bundle: CertBundle;
let foreign: CertBundle;
let otherRun: CertBundle;

before(async () => {
  dir = await tempDir('gantry-tls-');
  bundle = await issueCertificates({ roles: ['generator', 'discriminator', 'scheduler', 'worker'], run: RUN, days: 1 });
  foreign = await issueCertificates({ roles: ['discriminator'], days: 1, caName: 'someone else CA' });
  await writeCertificates(dir, bundle);
  // Another run's certificates (their own CA): the server in the run test trusts that CA.
  otherRun = await issueCertificates({ roles: ['discriminator'], run: 'another-run', days: 1 });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The TLS settings of `role` as a process loads them from files (`gantry certs --out DIR`). */
async function filesOf(role: string, mtls: boolean): Promise<GrpcTls> {
  const tls = await loadGrpcTls({ tlsCa: path.join(dir, 'ca.crt'), tlsCert: path.join(dir, `${role}.crt`), tlsKey: path.join(dir, `${role}.key`), mtls });
  assert.ok(tls);
  return tls;
}

const pem = (b: CertBundle, role: string, mtls = false): GrpcTls => ({
  ca: Buffer.from(b.ca.cert), cert: Buffer.from(b.roles[role].cert), key: Buffer.from(b.roles[role].key), mtls,
});

const handlers: Record<string, Handler> = {
  Generate: unary(() => ({ images: encodeTensor(new Float32Array(784), [1, 28, 28, 1]) })),
  ApplyUpstreamGradient: unary(() => ({ applied: true, gradNorm: 0 })),
  StreamWeights: serverStream(function* () { /* no tensors */ }),
  LoadWeights: clientStream(async () => ({ tensorCount: 0, totalBytes: 0 })),
};

async function serve(tls: GrpcTls | undefined, runId = RUN): Promise<{ server: GantryServer; address: string }> {
  const server = createServer({ tls, runId });
  server.addService(GENERATOR_SERVICE, handlers);
  const port = await server.listen(0, '127.0.0.1');
  server.setServing(true);
  return { server, address: `127.0.0.1:${port}` };
}

const generateRequest = { id: { runId: RUN, iteration: 0, step: 0 }, batchSize: 1 };

async function generate(address: string, tls: GrpcTls | undefined): Promise<unknown> {
  const client = new RpcClient(address, GENERATOR_SERVICE, { tls });
  try {
    return await client.unary('Generate', generateRequest, DEADLINE_MS);
  } finally {
    client.close();
  }
}

/** Generate with hand-made channel credentials (a client without a certificate). */
function rawGenerate(address: string, creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | undefined> {
  const def = serviceDefinition(GENERATOR_SERVICE).Generate;
  const client = new grpc.Client(address, creds);
  return new Promise((resolve) => {
    client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, generateRequest, { deadline: Date.now() + DEADLINE_MS },
      (err) => {
        client.close();
        resolve(err ?? undefined);
      });
  });
}

const refusedAtHandshake = (err: unknown): boolean => err instanceof PeerError && err.code === grpc.status.UNAVAILABLE;

test('mutual TLS: the allowed role is served; health is open to any certificate of the CA', async () => {
  const { server, address } = await serve(await filesOf('generator', true));
  try {
    const res = (await generate(address, await filesOf('discriminator', false))) as { images: { shape: number[] } };
    assert.deepEqual(res.images.shape, [1, 28, 28, 1]);
    assert.equal(await checkHealth(address, '', DEADLINE_MS, await filesOf('scheduler', false)), 'SERVING');
    // The scheduler may stream weights, the method its role is allowed.
    const scheduler = new RpcClient(address, GENERATOR_SERVICE, { tls: await filesOf('scheduler', false) });
    const chunks: unknown[] = [];
    for await (const c of scheduler.serverStream('StreamWeights', { runId: RUN }, DEADLINE_MS)) chunks.push(c);
    scheduler.close();
    assert.equal(chunks.length, 0);
  } finally {
    await server.shutdown();
  }
});

test('mutual TLS: a role not allowed for the method gets PERMISSION_DENIED naming the role seen and the roles allowed', async () => {
  const { server, address } = await serve(pem(bundle, 'generator', true));
  try {
    await assert.rejects(generate(address, pem(bundle, 'scheduler')), (err: unknown) => {
      assert.ok(err instanceof PeerError);
      assert.equal(err.code, grpc.status.PERMISSION_DENIED);
      assert.equal(err.remoteName, 'PeerNotAllowedError');
      assert.match(err.details, /GeneratorService\/Generate refused for role "scheduler": allowed roles: discriminator/);
      return true;
    });
    // The generator's own certificate is no better: a generator never asks itself for G(z).
    await assert.rejects(generate(address, pem(bundle, 'generator')), (err: unknown) => err instanceof PeerError && err.code === grpc.status.PERMISSION_DENIED);
  } finally {
    await server.shutdown();
  }
});

test('mutual TLS: no client certificate, a certificate from another CA, and a plaintext client are refused', async () => {
  const { server, address } = await serve(pem(bundle, 'generator', true));
  try {
    const noCert = await rawGenerate(address, grpc.credentials.createSsl(Buffer.from(bundle.ca.cert)));
    assert.equal(noCert?.code, grpc.status.UNAVAILABLE, 'no client certificate');
    // Another CA's discriminator: its chain does not verify (the server's CA did not sign it).
    const other: GrpcTls = { ...pem(foreign, 'discriminator'), ca: Buffer.from(bundle.ca.cert) };
    await assert.rejects(generate(address, other), refusedAtHandshake);
    const plaintext = await rawGenerate(address, grpc.credentials.createInsecure());
    assert.ok(plaintext && plaintext.code !== grpc.status.OK, 'a plaintext client gets no answer');
    assert.equal(plaintext.code, grpc.status.UNAVAILABLE);
  } finally {
    await server.shutdown();
  }
});

test('mutual TLS: a certificate bound to another run is refused with PERMISSION_DENIED', async () => {
  // Server and client trust otherRun's CA; the client's certificate says run "another-run".
  const serverTls: GrpcTls = { ...pem(otherRun, 'discriminator', true) };
  const { server, address } = await serve(serverTls, RUN);
  try {
    // The client checks the server's role: a discriminator certificate at a generator address is refused.
    await assert.rejects(generate(address, pem(otherRun, 'discriminator')), (err: unknown) => {
      assert.ok(refusedAtHandshake(err));
      assert.match((err as PeerError).details, /presents role "discriminator", expected "generator"/);
      return true;
    });
  } finally {
    await server.shutdown();
  }
  const twoRoles = await issueCertificates({ roles: ['generator', 'discriminator'], run: 'another-run', days: 1 });
  const s2 = await serve(pem(twoRoles, 'generator', true), RUN);
  try {
    await assert.rejects(generate(s2.address, pem(twoRoles, 'discriminator')), (err: unknown) => {
      assert.ok(err instanceof PeerError && err.code === grpc.status.PERMISSION_DENIED);
      assert.match(err.details, /certificate is for run "another-run", this server serves "tls-run"/);
      return true;
    });
  } finally {
    await s2.server.shutdown();
  }
});

test('TLS without mTLS: a client with only the CA is served; a plaintext client is refused', async () => {
  const { server, address } = await serve(pem(bundle, 'generator', false));
  try {
    const err = await rawGenerate(address, grpc.credentials.createSsl(Buffer.from(bundle.ca.cert)));
    assert.equal(err, undefined, 'TLS client without a certificate');
    const plaintext = await rawGenerate(address, grpc.credentials.createInsecure());
    assert.equal(plaintext?.code, grpc.status.UNAVAILABLE);
  } finally {
    await server.shutdown();
  }
});

test('a plaintext listener on a non-loopback address is refused unless insecure; TLS or loopback need nothing', async () => {
  const plain = createServer();
  plain.addService(GENERATOR_SERVICE, handlers);
  await assert.rejects(plain.listen(0, '0.0.0.0'), (err: unknown) => {
    assert.ok(err instanceof InsecureListenerError);
    assert.equal(err.address, '0.0.0.0:0');
    assert.match(err.message, /refusing to serve plaintext gRPC on 0\.0\.0\.0:0.*--insecure \(GANTRY_INSECURE=1\)/);
    return true;
  });
  const insecure = createServer({ insecure: true });
  insecure.addService(GENERATOR_SERVICE, handlers);
  assert.ok((await insecure.listen(0, '0.0.0.0')) > 0);
  await insecure.shutdown();
  const tls = createServer({ tls: pem(bundle, 'generator', true) });
  tls.addService(GENERATOR_SERVICE, handlers);
  assert.ok((await tls.listen(0, '0.0.0.0')) > 0);
  await tls.shutdown();
});

test('TLS files: all three or none; mtls needs them; a non-PEM file is named', async () => {
  assert.equal(await loadGrpcTls({}), undefined);
  await assert.rejects(loadGrpcTls({ mtls: true }), (e: unknown) => e instanceof SecuritySettingError && e.field === 'mtls' && e.kind === 'missing');
  await assert.rejects(loadGrpcTls({ tlsCa: path.join(dir, 'ca.crt'), tlsCert: path.join(dir, 'generator.crt') }), (e: unknown) => {
    assert.ok(e instanceof SecuritySettingError);
    assert.equal(e.field, 'tlsKey');
    assert.match(e.message, /tlsKey \(--tls-key, GANTRY_TLS_KEY\): required with tlsCa and tlsCert/);
    return true;
  });
  const notPem = path.join(dir, 'not.pem');
  await (await import('node:fs/promises')).writeFile(notPem, 'hello');
  await assert.rejects(loadGrpcTls({ tlsCa: notPem, tlsCert: notPem, tlsKey: notPem }), (e: unknown) => e instanceof SecuritySettingError && e.kind === 'malformed' && e.file === notPem);
});

test('mutual TLS on a bidirectional stream: the ring admits a worker and refuses the scheduler', async () => {
  const server = createServer({ tls: pem(bundle, 'worker', true), runId: RUN });
  // The handler ends every stream at once: reaching it at all is what the test looks at.
  server.addService(COLLECTIVE_SERVICE, { Ring: bidiStream((call) => call.end()) });
  const address = `127.0.0.1:${await server.listen(0)}`;
  const ring = (role: string): Promise<grpc.StatusObject> => {
    const client = new RpcClient(address, COLLECTIVE_SERVICE, { tls: pem(bundle, role) });
    const { call } = client.duplex('Ring', DEADLINE_MS);
    call.on('data', () => undefined);
    call.on('error', () => undefined);
    return new Promise((resolve) => call.on('status', (st: grpc.StatusObject) => {
      client.close();
      resolve(st);
    }));
  };
  try {
    assert.equal((await ring('worker')).code, grpc.status.OK);
    const refused = await ring('scheduler');
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
    assert.match(refused.details, /CollectiveService\/Ring refused for role "scheduler": allowed roles: worker, discriminator/);
  } finally {
    await server.shutdown();
  }
});
