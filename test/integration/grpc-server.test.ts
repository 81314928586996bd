// The gRPC plumbing on real servers on port 0: truthful health, reflection, deadlines, message
// limits on both ends, once-only answers, and the byte/latency metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createServer, serverStream, unary, clientStream, type Handler } from '../../services/wire/server.ts';
import { checkHealth, RpcClient } from '../../services/wire/client.ts';
import { PeerDeadlineError, PeerError, PeerUnavailableError, TensorValidationError } from '../../services/wire/errors.ts';
import { decodeTensor, encodeTensor } from '../../services/wire/tensor-codec.ts';
import { GENERATOR_SERVICE, HEALTH_SERVICE } from '../../services/wire/proto.ts';
import { createMetrics } from '../../services/telemetry/metrics.ts';
import { GeneratorGrpcService } from '../../services/generator/grpc-service.ts';
import { GeneratorClient } from '../../services/wire/generator-client.ts';
import { dataPlaneGates } from '../../services/wire/step-gate.ts';
import { GeneratorNode, ganConfig, RUN, setUp } from './grpc-fixtures.ts';

const MiB = 1024 * 1024;
const BIG_IMAGES = 13_375; // (13375, 28, 28, 1) float32 = 41,944,000 bytes, just over 40 MiB
const BIG = BIG_IMAGES * 3136;
const pending: Handler = unary(() => new Promise(() => undefined)); // never answers

/** A generator service whose Generate returns `images` and whose ApplyUpstream reports the received size. */
function plumbingHandlers(generate: Handler): Record<string, Handler> {
  return {
    Generate: generate,
    ApplyUpstreamGradient: unary((req: { grad: { data: Buffer } }) => ({ applied: true, gradNorm: req.grad.data.length })),
    StreamWeights: serverStream(function* () { /* empty */ }),
    LoadWeights: clientStream(async () => ({ tensorCount: 0, totalBytes: 0 })),
  };
}

async function listen(handlers: Record<string, Handler>, opts = {}) {
  const server = createServer(opts);
  server.addService(GENERATOR_SERVICE, handlers);
  const address = `127.0.0.1:${await server.listen(0)}`;
  return { server, address };
}

const bigImages = (): object => {
  const data = new Float32Array(BIG / 4);
  data[data.length - 1] = 0.75; // images are in [-1, 1]: the client checks
  return { images: encodeTensor(data, [BIG_IMAGES, 28, 28, 1]) };
};

test('health is NOT_SERVING until the model is ready, SERVING after, NOT_SERVING once shutdown begins', async () => {
  await setUp();
  const node = new GeneratorNode(ganConfig());
  const server = createServer();
  new GeneratorGrpcService(node, { gates: dataPlaneGates('generator', 'ApplyUpstreamGradient') }).addToServer(server);
  const address = `127.0.0.1:${await server.listen(0)}`;
  try {
    assert.equal(await checkHealth(address, ''), 'NOT_SERVING');
    assert.equal(await checkHealth(address, GENERATOR_SERVICE), 'NOT_SERVING');
    await assert.rejects(checkHealth(address, 'gantry.v1.Nope'), (err: unknown) => err instanceof PeerError && err.code === grpc.status.NOT_FOUND);
    server.setServing(true);
    assert.equal(await checkHealth(address, ''), 'SERVING');
    assert.equal(await checkHealth(address, GENERATOR_SERVICE), 'SERVING');
    // A watcher sees the change the moment shutdown starts, before the server stops answering.
    const health = new RpcClient(address, HEALTH_SERVICE);
    const seen: string[] = [];
    let stopping: Promise<void> | undefined;
    for await (const msg of health.serverStream<object, { status: string }>('Watch', { service: GENERATOR_SERVICE }, 10_000)) {
      seen.push(msg.status);
      if (seen.length === 1) stopping = server.shutdown({ drainMs: 200, graceMs: 2_000 });
      else break;
    }
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
    assert.equal(await checkHealth(address, ''), 'NOT_SERVING', 'still answering during the drain');
    health.close();
    await stopping;
    await assert.rejects(checkHealth(address, '', 1_000), (err: unknown) => err instanceof PeerError && err.retryable);
  } finally {
    await server.shutdown({ graceMs: 100 });
    node.dispose();
  }
});

test('reflection lists the served services', async () => {
  const { server, address } = await listen(plumbingHandlers(pending));
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [dir] }));
  const Reflection = ((pkg.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const client = new (Reflection.ServerReflection as grpc.ServiceClientConstructor)(address, grpc.credentials.createInsecure());
  try {
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = (client.ServerReflectionInfo as (o: grpc.CallOptions) => grpc.ClientDuplexStream<object, object>)({ deadline: Date.now() + 5_000 });
      call.on('data', (res: { listServicesResponse: { service: { name: string }[] } }) => {
        resolve(res.listServicesResponse.service.map((s) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    assert.deepEqual(names.sort(), [GENERATOR_SERVICE, HEALTH_SERVICE].sort());
  } finally {
    client.close();
    await server.shutdown({ graceMs: 100 });
  }
});

test('a call past its deadline fails with PeerDeadlineError and the server keeps serving', async () => {
  let calls = 0;
  const { server, address } = await listen(plumbingHandlers(unary(() => (++calls === 1 ? new Promise(() => undefined) : bigImages()))));
  const client = new GeneratorClient(address, { deadlineMs: 150 });
  try {
    const started = Date.now();
    await assert.rejects(client.generate({ runId: RUN, iteration: 0, step: 0 }, 0), (err: unknown) => {
      assert.ok(err instanceof PeerDeadlineError, String(err));
      assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(err.method, 'GeneratorService/Generate');
      assert.equal(err.peer, address);
      assert.equal(err.retryable, true);
      return true;
    });
    assert.ok(Date.now() - started < 2_000);
    const images = await client.generate({ runId: RUN, iteration: 0, step: 0 }, 0, { deadlineMs: 10_000 });
    assert.equal(images.length, BIG / 4);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 100 });
  }
});

test('a 40 MiB message passes both ways with limits raised on both ends, and not with a 4 MiB client', async () => {
  const { server, address } = await listen(plumbingHandlers(unary(bigImages)));
  const client = new GeneratorClient(address, { deadlineMs: 30_000 });
  const small = new GeneratorClient(address, { deadlineMs: 30_000, maxMessageBytes: 4 * MiB });
  try {
    const images = await client.generate({ runId: RUN, iteration: 0, step: 0 }, 0);
    assert.equal(images.length * 4, BIG);
    assert.equal(images[images.length - 1], 0.75);
    const sent = await client.applyUpstream({ runId: RUN, iteration: 0, step: 1 }, new Float32Array(BIG / 4));
    assert.equal(sent.gradNorm, BIG, 'the server received every byte of the tensor');
    await assert.rejects(small.generate({ runId: RUN, iteration: 0, step: 0 }, 0),
      (err: unknown) => err instanceof PeerError && err.code === grpc.status.RESOURCE_EXHAUSTED);
  } finally {
    client.close();
    small.close();
    await server.shutdown({ graceMs: 100 });
  }
});

test('a server with the default 4 MiB limit rejects a 40 MiB request with RESOURCE_EXHAUSTED', async () => {
  const { server, address } = await listen(plumbingHandlers(pending), { maxMessageBytes: 4 * MiB });
  const client = new GeneratorClient(address);
  try {
    await assert.rejects(client.applyUpstream({ runId: RUN, iteration: 0, step: 1 }, new Float32Array(BIG / 4)),
      (err: unknown) => err instanceof PeerError && err.code === grpc.status.RESOURCE_EXHAUSTED);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 100 });
  }
});

test('unexpected errors are INTERNAL, typed ones keep their code; a handler answers once', async () => {
  let n = 0;
  const { server, address } = await listen(plumbingHandlers(unary(() => {
    n++;
    if (n === 1) throw new RangeError('index out of range');
    if (n === 2) decodeTensor(null, 'images');
    return { images: encodeTensor(new Float32Array(784), [1, 28, 28, 1]) };
  })));
  const client = new GeneratorClient(address, { deadlineMs: 5_000 });
  try {
    const id = { runId: RUN, iteration: 0, step: 0 };
    await assert.rejects(client.generate(id, 0), (err: unknown) =>
      err instanceof PeerError && err.code === grpc.status.INTERNAL && err.details === 'internal error: RangeError: index out of range');
    await assert.rejects(client.generate(id, 0), (err: unknown) =>
      err instanceof PeerError && err.code === grpc.status.INVALID_ARGUMENT && err.remoteName === TensorValidationError.name);
    assert.equal((await client.generate(id, 0)).length, 784);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 100 });
  }
});

test('an unreachable peer is PeerUnavailableError', async () => {
  const { server, address } = await listen(plumbingHandlers(pending));
  await server.shutdown({ graceMs: 100 });
  const client = new GeneratorClient(address, { deadlineMs: 2_000 });
  try {
    await assert.rejects(client.generate({ runId: RUN, iteration: 0, step: 0 }, 0), (err: unknown) => {
      assert.ok(err instanceof PeerUnavailableError || err instanceof PeerDeadlineError, String(err));
      assert.equal((err as PeerError).retryable, true);
      return true;
    });
  } finally {
    client.close();
  }
});

test('client and server count message bytes and latency per method and status code', async () => {
  const serverMetrics = createMetrics('generator');
  const clientMetrics = createMetrics('discriminator');
  const { server, address } = await listen(plumbingHandlers(unary(() => ({ images: encodeTensor(new Float32Array(784), [1, 28, 28, 1]) }))),
    { metrics: serverMetrics });
  const client = new GeneratorClient(address, { metrics: clientMetrics, deadlineMs: 5_000 });
  try {
    await client.generate({ runId: RUN, iteration: 0, step: 0 }, 0);
    const label = { method: 'GeneratorService/Generate' };
    const value = async (m: typeof serverMetrics, name: string, labels: Record<string, string>) => {
      const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
      const match = metric?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
      return match?.value;
    };
    const received = await value(clientMetrics, 'gantry_grpc_client_bytes_total', { ...label, direction: 'received' });
    assert.ok(received !== undefined && received > 3136 && received < 3200, `client received ${received}`);
    assert.equal(await value(serverMetrics, 'gantry_grpc_server_bytes_total', { ...label, direction: 'sent' }), received);
    assert.equal(await value(serverMetrics, 'gantry_grpc_server_bytes_total', { ...label, direction: 'received' }),
      await value(clientMetrics, 'gantry_grpc_client_bytes_total', { ...label, direction: 'sent' }));
    for (const [m, side] of [[clientMetrics, 'client'], [serverMetrics, 'server']] as const) {
      assert.equal(await value(m, 'gantry_grpc_duration_seconds', { ...label, side, code: 'OK', le: '+Inf' }), 1, side);
    }
  } finally {
    client.close();
    await server.shutdown({ graceMs: 100 });
  }
});
