// The data plane obeys only its scheduler and answers bad input clearly, over real gRPC servers:
// a foreign client's well-formed far-future TrainStep, ApplyUpstreamGradient or LoadWeights is
// FAILED_PRECONDITION naming the expected step, and the whole state (weights, batch-norm
// statistics, Adam slots and step, lastApplied) stays bit for bit; a fake batch outside [-1, 1],
// an absurd shape and a 100,000-character run id are INVALID_ARGUMENT / FAILED_PRECONDITION with
// bounded messages; a client that cancels a stream is logged at info, without a stack.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { tf } from '../../services/core/tf.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { encodeTensor } from '../../services/wire/tensor-codec.ts';
import { DISCRIMINATOR_SERVICE, GENERATOR_SERVICE, serviceDefinition } from '../../services/wire/proto.ts';
import { snapshotToChunks } from '../../services/wire/weights-stream.ts';
import type { WeightsChunk } from '../../services/wire/generated/gantry/v1/WeightsChunk.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import type { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import type { GeneratorClient } from '../../services/wire/generator-client.ts';
import { stateHash } from '../harness/state-hash.ts';
import { waitFor } from '../harness/nats.ts';
import { DiscriminatorNode, GeneratorNode, ganConfig, RUN, serveDiscriminator, serveGenerator, setUp, type Served } from './grpc-fixtures.ts';

const cfg = ganConfig();
const B = cfg.batchSize;
const k = cfg.dSteps;
let g: GeneratorNode;
let d: DiscriminatorNode;
let gs: Served<GeneratorClient>;
let ds: Served<DiscriminatorClient>;
const logLines: { level: string; msg: string; stack?: unknown; method?: string }[] = [];

before(async () => {
  const data = await setUp();
  g = new GeneratorNode(cfg);
  d = new DiscriminatorNode(cfg, data);
  const stream = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(l)); done(); } });
  const logger = createLogger({ component: 'test', format: 'json', level: 'debug', stream });
  gs = await serveGenerator(g, { server: { logger } });
  ds = await serveDiscriminator(d, { server: { logger } });
});

after(async () => {
  await gs.close();
  await ds.close();
  g.dispose();
  d.dispose();
});

const fakeOf = (t: number, s: number): Float32Array => tf.tidy(() => g.generate(t, s).dataSync() as Float32Array);
const upstream = (seed: number): Float32Array => tf.tidy(() => tf.randomNormal([B, 28, 28, 1], 0, 0.01, 'float32', seed).dataSync() as Float32Array);

/** Asserts a PeerError with `code`, and returns it for further checks. */
async function failsWith(call: Promise<unknown>, code: grpc.status): Promise<PeerError> {
  let caught: unknown;
  await assert.rejects(call, (err: unknown) => {
    caught = err;
    assert.ok(err instanceof PeerError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
  return caught as PeerError;
}

test('a foreign far-future TrainStep is FAILED_PRECONDITION naming the expected step and changes nothing', async () => {
  ds.arm(0, 0); // the scheduler commanded D-step (0, 0)
  const before = stateHash(d);
  const err = await failsWith(ds.client.trainStep({ runId: RUN, iteration: 1_000_000, step: 0 }, fakeOf(1_000_000, 0)), grpc.status.FAILED_PRECONDITION);
  assert.equal(err.remoteName, 'StepNotArmedError');
  assert.equal(err.details, 'TrainStep for (iteration 1000000, step 0) refused: the discriminator executes only the step its scheduler commanded; ' +
    'expected (iteration 0, step 0) of generation 1');
  assert.equal(stateHash(d), before);
  // The commanded step still goes through, once; the step after it is not armed.
  assert.equal((await ds.client.trainStep({ runId: RUN, iteration: 0, step: 0 }, fakeOf(0, 0))).applied, true);
  const next = await failsWith(ds.client.trainStep({ runId: RUN, iteration: 0, step: 1 }, fakeOf(0, 1)), grpc.status.FAILED_PRECONDITION);
  assert.match(next.details, /expected none: \(iteration 0, step 0\) of generation 1 was already applied$/);
  // A retry of the applied step is answered, not applied, and needs no arming.
  const applied = stateHash(d);
  assert.equal((await ds.client.trainStep({ runId: RUN, iteration: 0, step: 0 }, fakeOf(0, 0))).applied, false);
  assert.equal(stateHash(d), applied);
});

test('a foreign far-future ApplyUpstreamGradient is FAILED_PRECONDITION and changes nothing', async () => {
  gs.arm(0, k);
  const before = stateHash(g);
  const err = await failsWith(gs.client.applyUpstream({ runId: RUN, iteration: 1_000_000, step: k }, upstream(1)), grpc.status.FAILED_PRECONDITION);
  assert.equal(err.remoteName, 'StepNotArmedError');
  assert.match(err.details, /^ApplyUpstreamGradient for \(iteration 1000000, step 2\) refused: .* expected \(iteration 0, step 2\) of generation 1$/);
  assert.equal(stateHash(g), before);
  assert.equal(g.lastAppliedIteration, -1);
  assert.equal((await gs.client.applyUpstream({ runId: RUN, iteration: 0, step: k }, upstream(1))).applied, true);
});

test('a foreign LoadWeights is FAILED_PRECONDITION before its stream is read, or after it names another step', async () => {
  const other = new GeneratorNode(ganConfig({ seed: 99 }));
  try {
    const weights = { snapshot: other.snapshot(), lastAppliedIteration: 1_000_000 };
    const before = stateHash(g);
    const unarmed = await failsWith(gs.client.loadWeights(weights), grpc.status.FAILED_PRECONDITION);
    assert.match(unarmed.details, /^LoadWeights refused: the generator executes only the step its scheduler commanded; expected none/);
    gs.gates.load.arm({ generation: 1, iteration: 5, step: -1 });
    const wrong = await failsWith(gs.client.loadWeights(weights), grpc.status.FAILED_PRECONDITION);
    assert.match(wrong.details, /^LoadWeights for \(iteration 1000000, step -1\) refused: .* expected \(iteration 5, step -1\) of generation 1$/);
    assert.equal(stateHash(g), before);
    await gs.client.loadWeights({ ...weights, lastAppliedIteration: 5 });
    assert.equal(stateHash(g), stateHash(Object.assign(other, { lastAppliedIteration: 5 })));
  } finally {
    other.dispose();
  }
});

test('a fake batch with values in [50, 100] is INVALID_ARGUMENT naming fake.data and its range', async () => {
  ds.arm(1, 0);
  const before = stateHash(d);
  const fake = new Float32Array(B * 784).map((_, i) => 50 + (i % 51));
  const err = await failsWith(ds.client.trainStep({ runId: RUN, iteration: 1, step: 0 }, fake), grpc.status.INVALID_ARGUMENT);
  assert.equal(err.field, 'fake.data');
  assert.equal(err.details, 'fake.data: expected values in [-1, 1], found 3136 values outside, first 50 at index 0');
  assert.equal(stateHash(d), before);
  const grad = await failsWith(ds.client.generatorGrad({ runId: RUN, iteration: 1, step: k }, fake), grpc.status.INVALID_ARGUMENT);
  assert.equal(grad.field, 'fake.data');
  // The armed step stays armed for the real call.
  assert.equal((await ds.client.trainStep({ runId: RUN, iteration: 1, step: 0 }, fakeOf(1, 0))).applied, true);
});

test('a 100,000-character run id is refused with a bounded message', async () => {
  const runId = 'x'.repeat(100_000);
  const calls = [() => gs.client.generate({ runId, iteration: 0, step: 0 }, B), () => ds.client.trainStep({ runId, iteration: 2, step: 0 }, fakeOf(2, 0))];
  for (const call of calls) {
    const err = await failsWith(call(), grpc.status.FAILED_PRECONDITION);
    assert.equal(err.remoteName, 'WrongRunError');
    assert.ok(err.details.length < 200, `details of ${err.details.length} chars`);
    assert.match(err.details, /^id\.run_id: this server serves run "run-test", found "x{64}\.\.\. \(100000 chars\)"$/);
  }
});

test('a Tensor or WeightsChunk of shape [2^40] is INVALID_ARGUMENT naming the field and the bound', async () => {
  const raw = new RpcClient(ds.address, DISCRIMINATOR_SERVICE);
  try {
    for (const shape of [[2 ** 40], [2 ** 40, 2 ** 40, 2 ** 40]]) {
      const fake = { dtype: 'FLOAT32', shape, data: Buffer.alloc(16) };
      const err = await failsWith(raw.unary('TrainStep', { id: { runId: RUN, iteration: 2, step: 0 }, fake }, 5_000), grpc.status.INVALID_ARGUMENT);
      assert.equal(err.field, 'fake.shape');
      assert.match(err.details, /^fake\.shape: expected at most 268435456 elements \(2\^28\), found \[1099511627776.*\] \(more than 2\^28 elements\)$/);
    }
  } finally {
    raw.close();
  }
  const before = stateHash(d);
  ds.gates.load.arm({ generation: 1, iteration: 7, step: 1 });
  const chunks = [...snapshotToChunks({ snapshot: d.snapshot(), lastApplied: { iteration: 7, step: 1 } })];
  chunks[0] = { header: { ...chunks[0].header!, totalBytes: 2 ** 50 } };
  chunks[1] = { ...chunks[1], shape: [2 ** 40] };
  const weights = new RpcClient(ds.address, DISCRIMINATOR_SERVICE);
  try {
    const err = await failsWith(weights.clientStream('LoadWeights', chunks, 10_000), grpc.status.INVALID_ARGUMENT);
    assert.equal(err.field, 'chunk[1].shape');
    assert.equal(err.details, 'chunk[1].shape: expected at most 268435456 elements (2^28), found [1099511627776] (more than 2^28 elements)');
    // A 100,000-character tensor name is echoed clipped.
    const named = [...snapshotToChunks({ snapshot: d.snapshot(), lastApplied: { iteration: 7, step: 1 } })];
    named[1] = { ...named[1], tensorName: 'n'.repeat(100_000) };
    const long = await failsWith(weights.clientStream('LoadWeights', named, 10_000), grpc.status.INVALID_ARGUMENT);
    assert.ok(long.details.length < 400, `details of ${long.details.length} chars`);
  } finally {
    weights.close();
  }
  assert.equal(stateHash(d), before);
});

test('a client that cancels its LoadWeights stream is logged at info, without a stack', async () => {
  gs.gates.load.arm({ generation: 1, iteration: 9, step: -1 });
  const def = serviceDefinition(GENERATOR_SERVICE).LoadWeights;
  const client = new grpc.Client(gs.address, grpc.credentials.createInsecure());
  const chunks: WeightsChunk[] = [...snapshotToChunks({ snapshot: g.snapshot(), lastApplied: { iteration: 9, step: -1 } })];
  const before = stateHash(g);
  const done = new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.makeClientStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpc.Metadata(),
      { deadline: Date.now() + 10_000 }, (err) => resolve(err));
    call.write(chunks[0]);
    call.write(chunks[1]);
    // Cancel once the server is reading the stream (its handler has started).
    setTimeout(() => call.cancel(), 300);
  });
  const err = await done;
  assert.equal(err?.code, grpc.status.CANCELLED);
  client.close();
  await waitFor(() => logLines.some((l) => l.msg === 'call cancelled by the client'), 'the cancellation log line', 5_000);
  const line = logLines.find((l) => l.msg === 'call cancelled by the client')!;
  assert.equal(line.level, 'info');
  assert.equal(line.method, 'GeneratorService/LoadWeights');
  assert.equal(line.stack, undefined);
  assert.equal(logLines.filter((l) => l.level === 'error').length, 0, JSON.stringify(logLines));
  assert.equal(stateHash(g), before);
});
