// LoadWeights over real gRPC is all or nothing. Each bad stream below is rejected with
// INVALID_ARGUMENT, and the whole state of the receiving node (weights, batch-norm statistics,
// Adam slots and step, lastApplied) is bit for bit what it was; the gate stays armed, so the
// good stream that follows loads. The bad streams carry another node's weights, so any partial
// assignment would show in the state hash.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ganArch } from '../../services/core/presets.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { RpcClient } from '../../services/wire/client.ts';
import { DISCRIMINATOR_SERVICE } from '../../services/wire/proto.ts';
import { snapshotToChunks } from '../../services/wire/weights-stream.ts';
import type { WeightsChunk } from '../../services/wire/generated/gantry/v1/WeightsChunk.ts';
import type { ModelSnapshot } from '../../services/run/model-snapshot.ts';
import type { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import { stateHash } from '../harness/state-hash.ts';
import { DiscriminatorNode, GeneratorNode, ganConfig, RUN, serveDiscriminator, setUp, type Served } from './grpc-fixtures.ts';
import { tf } from '../../services/core/tf.ts';

// dcgan: D has batch-norm statistics, so they are part of what must not change.
const cfg = (seed: number) => ganConfig({ arch: ganArch('dcgan', { zDim: 8, gWidth: 8, dWidth: 8 }), seed, dSteps: 1 });
const LAST = { iteration: 4, step: 0 };
let d: DiscriminatorNode;
let other: DiscriminatorNode;
let served: Served<DiscriminatorClient>;
let raw: RpcClient;

function train(node: DiscriminatorNode, seed: number, iterations: number): void {
  const g = new GeneratorNode(cfg(seed));
  for (let t = 0; t < iterations; t++) {
    const [real, fake] = [node.realBatch(t, 0), g.generate(t, 0)];
    node.trainStep(t, 0, real, fake);
    tf.dispose([real, fake]);
  }
  g.dispose();
}

before(async () => {
  const data = await setUp();
  d = new DiscriminatorNode(cfg(1), data);
  other = new DiscriminatorNode(cfg(2), data);
  train(d, 1, 2);
  train(other, 2, 3);
  served = await serveDiscriminator(d);
  raw = new RpcClient(served.address, DISCRIMINATOR_SERVICE);
});

after(async () => {
  raw.close();
  await served.close();
  d.dispose();
  other.dispose();
});

const chunks = (s: ModelSnapshot, chunkBytes = 1 << 20): WeightsChunk[] => [...snapshotToChunks({ snapshot: s, lastApplied: LAST }, chunkBytes)];
const last = <T>(a: T[]): T => a[a.length - 1];

/** Every way a LoadWeights stream can be wrong, built from the other node's valid state. */
function badStreams(): [string, WeightsChunk[], RegExp][] {
  const snap = (edit: (x: ModelSnapshot) => void): ModelSnapshot => {
    const x = structuredClone(other.snapshot());
    edit(x);
    return x;
  };
  const good = chunks(other.snapshot());
  const header = good[0].header!;
  const lastTensor = last(other.snapshot().tensors).name;
  return [
    ['extra tensor', chunks(snap((x) => x.tensors.push({ name: 'extra/kernel', shape: [2], data: new Float32Array(2) }))), /extra\/kernel/],
    ['missing tensor', chunks(snap((x) => x.tensors.pop())), /is missing|not .* of a tensor of the model/],
    // A moment of the batch-norm statistic: a well-formed slot name and shape, but Adam has none.
    ['extra slot', chunks(snap((x) => x.optimizer.slots.push({ ...structuredClone(last(x.tensors)), name: `${lastTensor}/m` }))), /moving_variance\/m are not this optimizer's/],
    ['missing slot', chunks(snap((x) => x.optimizer.slots.pop())), /optimizer slot .* is missing/],
    ['renamed last tensor', chunks(snap((x) => { last(x.tensors).name = `${lastTensor}_renamed`; })), /_renamed/],
    ['reshaped last tensor', chunks(snap((x) => { const t = last(x.tensors); t.shape = [1, ...t.shape]; })), /expected shape/],
    ['NaN in the last tensor', chunks(snap((x) => { const t = last(x.tensors); t.data[t.data.length - 1] = Number.NaN; })), /finite values/],
    ['wrong role', [{ header: { ...header, role: 'generator' } }, ...good.slice(1)], /header\.role: expected "discriminator", found "generator"/],
    ['header model_tensor_count too high', [{ header: { ...header, modelTensorCount: header.modelTensorCount! + 1 } }, ...good.slice(1)], /model tensors and .* slots \(as the header says\)/],
    ['header total_bytes too low', [{ header: { ...header, totalBytes: Number(header.totalBytes) - 4 } }, ...good.slice(1)], /header\.total_bytes/],
    ['header total_bytes too high', [{ header: { ...header, totalBytes: Number(header.totalBytes) + 4 } }, ...good.slice(1)], /bytes \(header\.total_bytes\)/],
    ['truncated stream (last chunk lost)', good.slice(0, -1), /model tensors and .* slots|bytes/],
    ['truncated tensor (small chunks, one lost mid-tensor)', (() => {
      const c = chunks(other.snapshot(), 256);
      c.splice(c.length - 1 - [...c].reverse().findIndex((x) => Number(x.byteOffset) > 0), 1);
      return c;
    })(), /byte_offset: expected \d+, found \d+|data: expected \d+ bytes, found \d+ bytes/],
  ];
}

test('each bad LoadWeights stream is INVALID_ARGUMENT and leaves the whole state as it was', async () => {
  served.gates.load.arm({ generation: 1, ...LAST });
  const before = stateHash(d);
  assert.notEqual(before, stateHash(other));
  for (const [what, stream, message] of badStreams()) {
    await assert.rejects(raw.clientStream('LoadWeights', stream, 20_000), (err: unknown) => {
      assert.ok(err instanceof PeerError, `${what}: ${String(err)}`);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${what}: ${err.message}`);
      assert.match(err.details, message, what);
      return true;
    }, what);
    assert.equal(stateHash(d), before, `${what}: the state changed`);
    assert.deepEqual(served.gates.load.armed, { generation: 1, ...LAST }, `${what}: a rejected load must leave the gate armed`);
  }
  // The good stream loads whole, ledger included.
  await served.client.loadWeights({ snapshot: other.snapshot(), lastApplied: LAST });
  assert.equal(stateHash(d), stateHash(Object.assign(other, { lastApplied: LAST })));
  assert.equal(served.gates.load.armed, undefined, 'the armed load is consumed');
});
