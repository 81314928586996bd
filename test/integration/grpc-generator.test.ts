// GeneratorService over a real GeneratorNode on the cpu backend: round trips equal the direct
// in-process calls bit for bit, retries are not applied twice, malformed tensors are rejected
// naming the field while the server keeps serving, and weights stream out and back in exactly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { tf } from '../../services/core/tf.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { encodeTensor } from '../../services/wire/tensor-codec.ts';
import { GENERATOR_SERVICE } from '../../services/wire/proto.ts';
import { bits, GeneratorNode, ganConfig, RUN, serveGenerator, setUp, stateBits, type Served } from './grpc-fixtures.ts';
import type { GeneratorClient } from '../../services/wire/generator-client.ts';

// With a moving average of G's weights, so that its slots travel in the weight streams too.
const cfg = ganConfig({ gEma: 0.9 });
const B = cfg.batchSize;
let remote: GeneratorNode;
let local: GeneratorNode;
let served: Served<GeneratorClient>;

before(async () => {
  await setUp();
  remote = new GeneratorNode(cfg);
  local = new GeneratorNode(cfg);
  served = await serveGenerator(remote);
});

after(async () => {
  await served.close();
  remote.dispose();
  local.dispose();
});

/** A deterministic upstream gradient (B, 28, 28, 1). */
const upstream = (seed: number): Float32Array => tf.tidy(() => tf.randomNormal([B, 28, 28, 1], 0, 0.01, 'float32', seed).dataSync() as Float32Array);

async function expectInvalid(call: Promise<unknown>, field: string, message: RegExp): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof PeerError, `expected PeerError, got ${String(err)}`);
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
    assert.equal(err.field, field);
    assert.match(err.details, message);
    return true;
  });
}

test('Generate equals GeneratorNode.generate bit for bit, for D-steps and the G-step', async () => {
  for (const step of [0, 1, cfg.dSteps]) {
    const viaGrpc = await served.client.generate({ runId: RUN, iteration: 3, step }, B);
    const direct = local.generate(3, step);
    assert.deepEqual(bits(viaGrpc), bits(direct.dataSync() as Float32Array), `step ${step}`);
    direct.dispose();
  }
  assert.equal((await served.client.generate({ runId: RUN, iteration: 3, step: 0 }, 0)).length, B * 784);
});

test('ApplyUpstreamGradient updates G exactly as the direct call; a retry changes nothing', async () => {
  const id = { runId: RUN, iteration: 0, step: cfg.dSteps };
  const grad = upstream(5);
  const before = stateBits(remote);
  served.arm(0, cfg.dSteps);
  const first = await served.client.applyUpstream(id, grad);
  const t = tf.tensor4d(grad, [B, 28, 28, 1]);
  const direct = local.applyUpstream(0, t);
  t.dispose();
  assert.equal(first.applied, true);
  assert.equal(first.gradNorm, direct.gradNorm);
  const afterFirst = stateBits(remote);
  assert.notDeepEqual(afterFirst, before);
  assert.deepEqual(afterFirst, stateBits(local));
  const retry = await served.client.applyUpstream(id, upstream(6));
  assert.equal(retry.applied, false);
  assert.equal(retry.gradNorm, first.gradNorm);
  assert.deepEqual(stateBits(remote), afterFirst);
});

test('malformed requests are INVALID_ARGUMENT naming the field; the next valid call works', async () => {
  const id = { runId: RUN, iteration: 1, step: cfg.dSteps };
  const raw = new RpcClient(served.address, GENERATOR_SERVICE);
  const send = (grad: object) => raw.unary('ApplyUpstreamGradient', { id, grad }, 5_000);
  try {
    const ok = upstream(7);
    await expectInvalid(send(encodeTensor(ok, [B, 28, 28, 1].reverse())), 'grad.shape[0]', /^grad\.shape\[0\]: expected 4, found 1$/);
    await expectInvalid(send({ ...encodeTensor(ok, [B, 28, 28, 1]), data: Buffer.alloc(ok.byteLength - 4) }), 'grad.data',
      /^grad\.data: expected 12544 bytes \(3136 float32 values for shape \[4, 28, 28, 1\]\), found 12540 bytes$/);
    const nan = ok.slice();
    nan[17] = NaN;
    await expectInvalid(send(encodeTensor(nan, [B, 28, 28, 1])), 'grad.data', /^grad\.data: expected finite values, found 1 non-finite value, first at index 17$/);
    await expectInvalid(send(encodeTensor(ok, [B, 28, 28, 1], 'FLOAT16')), 'grad.dtype', /^grad\.dtype: expected FLOAT32, found FLOAT16$/);
    await expectInvalid(raw.unary('ApplyUpstreamGradient', { id }, 5_000), 'grad', /^grad: expected a tensor, found none$/);
    await expectInvalid(raw.unary('ApplyUpstreamGradient', { id: { ...id, step: 0 }, grad: encodeTensor(ok, [B, 28, 28, 1]) }, 5_000),
      'id.step', /^id\.step: expected 2, found 0$/);
    await expectInvalid(served.client.generate({ runId: RUN, iteration: 0, step: 0 }, B + 1), 'batch_size',
      /^batch_size: expected 4 \(the configured batch size\) or 0, found 5$/);
    await expectInvalid(served.client.generate({ runId: RUN, iteration: 0, step: cfg.dSteps + 1 }, B), 'id.step', /^id\.step: expected 0\.\.2, found 3$/);
    // 40 MiB passes the raised limits and is then rejected by validation, not by the transport.
    await expectInvalid(served.client.applyUpstream(id, new Float32Array(13_375 * 784)), 'grad.shape[0]', /^grad\.shape\[0\]: expected 4, found 13375$/);
    assert.equal(remote.lastAppliedIteration, 0, 'no malformed call may apply an update');
    served.arm(1, cfg.dSteps);
    assert.equal((await served.client.applyUpstream(id, ok)).applied, true);
  } finally {
    raw.close();
  }
});

test('a call for another run is FAILED_PRECONDITION', async () => {
  await assert.rejects(served.client.generate({ runId: 'other-run', iteration: 0, step: 0 }, B), (err: unknown) => {
    assert.ok(err instanceof PeerError);
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.remoteName, 'WrongRunError');
    assert.match(err.message, /id\.run_id: this server serves run "run-test", found "other-run"/);
    return true;
  });
});

test('StreamWeights returns the snapshot; LoadWeights into a fresh node makes it identical', async () => {
  const streamed = await served.client.streamWeights();
  assert.deepEqual(streamed.snapshot, remote.snapshot());
  assert.ok(streamed.snapshot.optimizer.slots.some((s) => s.name.endsWith('/ema')), 'the moving average streams with the slots');
  assert.equal(streamed.lastAppliedIteration, remote.lastAppliedIteration);
  // Same config (z depends on the run seed), but still at its initial weights: remote has trained.
  const fresh = new GeneratorNode(cfg);
  const other = await serveGenerator(fresh);
  try {
    assert.notDeepEqual(stateBits(fresh), stateBits(remote));
    other.gates.load.arm({ generation: 1, iteration: remote.lastAppliedIteration, step: -1 });
    const loaded = await other.client.loadWeights(streamed);
    assert.equal(loaded.tensorCount, streamed.snapshot.tensors.length + streamed.snapshot.optimizer.slots.length);
    assert.deepEqual(stateBits(fresh), stateBits(remote));
    assert.equal(fresh.lastAppliedIteration, remote.lastAppliedIteration);
    // The idempotency state travelled too: the already-applied iteration is not applied again.
    const retry = await other.client.applyUpstream({ runId: RUN, iteration: remote.lastAppliedIteration, step: cfg.dSteps }, upstream(8));
    assert.equal(retry.applied, false);
    const [a, b] = [await other.client.generate({ runId: RUN, iteration: 9, step: 0 }, B), await served.client.generate({ runId: RUN, iteration: 9, step: 0 }, B)];
    assert.deepEqual(bits(a), bits(b));
  } finally {
    await other.close();
    fresh.dispose();
  }
});

test('LoadWeights of a snapshot from another model is INVALID_ARGUMENT and changes nothing', async () => {
  const wide = new GeneratorNode(ganConfig({ arch: { ...cfg.arch, gWidth: 32 } }));
  try {
    const before = stateBits(remote);
    served.gates.load.arm({ generation: 1, iteration: 50, step: -1 });
    await assert.rejects(served.client.loadWeights({ snapshot: wide.snapshot(), lastAppliedIteration: 50 }), (err: unknown) => {
      assert.ok(err instanceof PeerError);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
      assert.equal(err.remoteName, 'SnapshotMismatchError');
      return true;
    });
    assert.deepEqual(stateBits(remote), before);
  } finally {
    wide.dispose();
  }
});

test('no tensors leak across calls', async () => {
  const id = { runId: RUN, iteration: 0, step: 0 };
  await served.client.generate(id, B);
  const n = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await served.client.generate({ ...id, iteration: i }, B);
  served.arm(20, cfg.dSteps);
  await served.client.applyUpstream({ runId: RUN, iteration: 20, step: cfg.dSteps }, upstream(9));
  await served.client.streamWeights();
  assert.equal(tf.memory().numTensors, n);
});
