// DiscriminatorService over a real DiscriminatorNode on the cpu backend: TrainStep and
// GeneratorGrad equal the direct calls bit for bit, retries are not applied twice, malformed or
// non-finite input is rejected with the right status while the server keeps serving, and the
// weights stream round-trips.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { tf } from '../../services/core/tf.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { encodeTensor } from '../../services/wire/tensor-codec.ts';
import { DISCRIMINATOR_SERVICE } from '../../services/wire/proto.ts';
import type { ImageSet } from '../../services/data/imageset.ts';
import type { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import {
  bits, DiscriminatorNode, GeneratorNode, ganConfig, RUN, serveDiscriminator, setUp, stateBits, type Served,
} from './grpc-fixtures.ts';

const cfg = ganConfig();
const B = cfg.batchSize;
let data: ImageSet;
let g: GeneratorNode;
let remote: DiscriminatorNode;
let local: DiscriminatorNode;
let served: Served<DiscriminatorClient>;

before(async () => {
  data = await setUp();
  g = new GeneratorNode(cfg);
  remote = new DiscriminatorNode(cfg, data);
  local = new DiscriminatorNode(cfg, data);
  served = await serveDiscriminator(remote);
});

after(async () => {
  await served.close();
  [g, remote, local].forEach((n) => n.dispose());
});

/** G(z) for (t, s) as the Float32Array a D-step receives. */
const fakeOf = (t: number, s: number): Float32Array => tf.tidy(() => g.generate(t, s).dataSync() as Float32Array);

function directTrainStep(t: number, s: number, fake: Float32Array) {
  const [real, fakeT] = [local.realBatch(t, s), tf.tensor4d(fake, [B, 28, 28, 1])];
  try {
    return local.trainStep(t, s, real, fakeT);
  } finally {
    tf.dispose([real, fakeT]);
  }
}

test('TrainStep equals DiscriminatorNode.trainStep bit for bit; a retry is not applied', async () => {
  for (const s of [0, 1]) {
    const fake = fakeOf(0, s);
    served.arm(0, s);
    const viaGrpc = await served.client.trainStep({ runId: RUN, iteration: 0, step: s }, fake);
    assert.deepEqual(viaGrpc, directTrainStep(0, s, fake));
    assert.equal(viaGrpc.applied, true);
    assert.equal('gp' in viaGrpc, false, 'nonsaturating has no gradient penalty');
  }
  const trained = stateBits(remote);
  assert.deepEqual(trained, stateBits(local));
  const retry = await served.client.trainStep({ runId: RUN, iteration: 0, step: 1 }, fakeOf(5, 0));
  assert.equal(retry.applied, false);
  assert.deepEqual(stateBits(remote), trained);
  assert.deepEqual(remote.lastApplied, { iteration: 0, step: 1 });
});

test('GeneratorGrad equals the direct call bit for bit and leaves D unchanged', async () => {
  const fake = fakeOf(0, cfg.dSteps);
  const before = stateBits(remote);
  const viaGrpc = await served.client.generatorGrad({ runId: RUN, iteration: 0, step: cfg.dSteps }, fake);
  const fakeT = tf.tensor4d(fake, [B, 28, 28, 1]);
  const direct = local.generatorGrad(0, fakeT);
  assert.equal(viaGrpc.lossG, direct.lossG);
  assert.equal(viaGrpc.dFake, direct.dFake);
  assert.deepEqual(bits(viaGrpc.grad), bits(direct.grad.dataSync() as Float32Array));
  tf.dispose([fakeT, direct.grad]);
  assert.deepEqual(stateBits(remote), before);
});

test('malformed fake batches are INVALID_ARGUMENT naming the field; the next valid call works', async () => {
  const raw = new RpcClient(served.address, DISCRIMINATOR_SERVICE);
  const id = { runId: RUN, iteration: 1, step: 0 };
  const fake = fakeOf(1, 0);
  const expectInvalid = (req: object, field: string, details: string) =>
    assert.rejects(raw.unary('TrainStep', req, 5_000), (err: unknown) => {
      assert.ok(err instanceof PeerError, String(err));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
      assert.equal(err.field, field);
      assert.equal(err.details, details);
      return true;
    });
  try {
    await expectInvalid({ id, fake: encodeTensor(new Float32Array(B * 32 * 28), [B, 32, 28, 1]) }, 'fake.shape[1]', 'fake.shape[1]: expected 28, found 32');
    await expectInvalid({ id, fake: encodeTensor(fake.subarray(0, 3 * 784), [3, 28, 28, 1]) }, 'fake.shape[0]', 'fake.shape[0]: expected 4, found 3');
    await expectInvalid({ id, fake: { ...encodeTensor(fake, [B, 28, 28, 1]), data: Buffer.alloc(7) } }, 'fake.data',
      'fake.data: expected 12544 bytes (3136 float32 values for shape [4, 28, 28, 1]), found 7 bytes');
    const nan = fake.slice();
    nan.fill(NaN, 100, 104);
    await expectInvalid({ id, fake: encodeTensor(nan, [B, 28, 28, 1]) }, 'fake.data',
      'fake.data: expected finite values, found 4 non-finite values, first at index 100');
    await expectInvalid({ id, fake: encodeTensor(fake, [B, 28, 28, 1], 'BFLOAT16') }, 'fake.dtype', 'fake.dtype: expected FLOAT32, found BFLOAT16');
    await expectInvalid({ id: { ...id, step: cfg.dSteps }, fake: encodeTensor(fake, [B, 28, 28, 1]) }, 'id.step', 'id.step: expected 0..1, found 2');
    assert.deepEqual(remote.lastApplied, { iteration: 0, step: 1 });
    served.arm(1, 0);
    assert.equal((await served.client.trainStep(id, fake)).applied, true);
  } finally {
    raw.close();
  }
});

test('a fake batch outside [-1, 1] is INVALID_ARGUMENT naming fake.data, nothing is applied, serving continues', async () => {
  const huge = new Float32Array(B * 784).fill(3e38);
  const before = stateBits(remote);
  await assert.rejects(served.client.generatorGrad({ runId: RUN, iteration: 1, step: cfg.dSteps }, huge), (err: unknown) => {
    assert.ok(err instanceof PeerError, String(err));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
    assert.equal(err.field, 'fake.data');
    assert.equal(err.details, 'fake.data: expected values in [-1, 1], found 3136 values outside, first 3.0000000054977558e+38 at index 0');
    return true;
  });
  assert.deepEqual(stateBits(remote), before);
  const ok = await served.client.generatorGrad({ runId: RUN, iteration: 1, step: cfg.dSteps }, fakeOf(1, cfg.dSteps));
  assert.ok(Number.isFinite(ok.lossG));
});

test('wgan-gp reports its gradient penalty through the wire', async () => {
  const wcfg = ganConfig({ loss: 'wgan-gp' });
  const d = new DiscriminatorNode(wcfg, data);
  const other = await serveDiscriminator(d);
  try {
    other.arm(0, 0);
    const m = await other.client.trainStep({ runId: RUN, iteration: 0, step: 0 }, fakeOf(0, 0));
    assert.equal(typeof m.gp, 'number');
    assert.ok(Number.isFinite(m.gp));
  } finally {
    await other.close();
    d.dispose();
  }
});

test('weights stream out and into a fresh node, idempotency state included', async () => {
  const streamed = await served.client.streamWeights();
  assert.deepEqual(streamed.snapshot, remote.snapshot());
  assert.deepEqual(streamed.lastApplied, remote.lastApplied);
  const fresh = new DiscriminatorNode(cfg, data);
  const other = await serveDiscriminator(fresh);
  try {
    other.gates.load.arm({ generation: 1, ...remote.lastApplied });
    await other.client.loadWeights(streamed);
    assert.deepEqual(stateBits(fresh), stateBits(remote));
    assert.deepEqual(fresh.lastApplied, remote.lastApplied);
    const again = await other.client.trainStep({ runId: RUN, ...remote.lastApplied }, fakeOf(0, 0));
    assert.equal(again.applied, false);
  } finally {
    await other.close();
    fresh.dispose();
  }
});

test('no tensors leak across calls, failed ones included', async () => {
  const fake = fakeOf(3, 0);
  served.arm(3, 0);
  await served.client.trainStep({ runId: RUN, iteration: 3, step: 0 }, fake);
  const n = tf.memory().numTensors;
  served.arm(3, 1);
  await served.client.trainStep({ runId: RUN, iteration: 3, step: 1 }, fakeOf(3, 1));
  await served.client.trainStep({ runId: RUN, iteration: 3, step: 1 }, fake); // retry
  await served.client.generatorGrad({ runId: RUN, iteration: 3, step: cfg.dSteps }, fake);
  await assert.rejects(served.client.generatorGrad({ runId: RUN, iteration: 3, step: cfg.dSteps }, new Float32Array(B * 784).fill(3e38)));
  await served.client.streamWeights();
  assert.equal(tf.memory().numTensors, n);
});
