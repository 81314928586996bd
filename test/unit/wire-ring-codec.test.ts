// The hand-written codec of Ring chunk frames (services/wire/ring-codec.ts) against protobufjs, the
// reference: what it writes is protobuf that protobufjs reads back field for field, with the
// payload 4-byte aligned behind gRPC's 5-byte prefix; what it reads (protobufjs' own encoding,
// ours, and thousands of mutated frames) decodes to what protobufjs decodes, or both throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protoLoader from '@grpc/proto-loader';
import { COLLECTIVE_SERVICE, LOADER_OPTIONS, PROTO_FILES, serviceDefinition } from '../../services/wire/proto.ts';
import { decodeChunkFrame, encodeChunkFrame, ringFrameCodec } from '../../services/wire/ring-codec.ts';
import type { RingFrame, RingFrame__Output } from '../../services/wire/generated/gantry/v1/RingFrame.ts';

// protobufjs alone: a fresh load, without the codec proto.ts installs.
const reference = (protoLoader.loadSync([...PROTO_FILES], LOADER_OPTIONS)[COLLECTIVE_SERVICE] as protoLoader.ServiceDefinition).Ring;
const pbEncode = (f: RingFrame): Buffer => reference.requestSerialize(f);
const pbDecode = (b: Buffer): RingFrame__Output => reference.requestDeserialize(b) as RingFrame__Output;
const codec = ringFrameCodec({ serialize: pbEncode, deserialize: pbDecode });

/** The decoded frame as plain data; `pad` is ignored by receivers and left out. */
function plain(f: RingFrame__Output): unknown {
  const c = f.chunk;
  if (!c) return f;
  const { pad: _pad, data, ...rest } = c;
  return { ...f, chunk: { ...rest, data: [...data] } };
}

function frame(runId: string, values: number, big = false): RingFrame {
  const data = Buffer.from(Float32Array.from({ length: values }, (_, i) => i * 0.25 - 3).buffer);
  return { chunk: { id: { runId, generation: big ? 2 ** 40 : 3, step: big ? 2 ** 33 + 1 : 17, sequence: big ? 300 : 0 },
    phase: big ? 'ALL_GATHER' : 'REDUCE_SCATTER', ringStep: big ? 70_000 : 1, segment: 2, chunk: big ? 2 ** 31 : 5,
    elements: big ? 2 ** 45 : 1000, chunkElements: 256, data } };
}

const runIds = ['', 'r', 'run-a', 'é'.repeat(70), 'x'.repeat(200), 'y'.repeat(20_000)];
const lengths = [0, 1, 3, 31, 32, 33, 4095, 65_536];

test('encoded chunk frames are protobuf that protobufjs reads back, payload aligned behind the 5-byte gRPC prefix', () => {
  for (const runId of runIds) {
    for (const n of lengths) {
      for (const big of [false, true]) {
        const f = frame(runId, n, big);
        const bytes = encodeChunkFrame(f)!;
        assert.ok(bytes, 'a chunk frame takes the fast path');
        const want = pbDecode(pbEncode(f));
        assert.deepEqual(plain(pbDecode(bytes)), plain(want), `runId ${runId.length} chars, ${n} values`);
        const fast = decodeChunkFrame(bytes)!;
        assert.deepEqual(plain(fast), plain(want));
        // The payload is a view of the received bytes at message offset 3 mod 4 (aligned behind the prefix).
        assert.equal(fast.chunk!.data.buffer, bytes.buffer);
        assert.equal((5 + fast.chunk!.data.byteOffset - bytes.byteOffset) % 4, 0, `payload offset for runId ${runId.length}, ${n} values`);
      }
    }
  }
});

test('frames the fast path does not own go to protobufjs: hellos, aborts, strings, out-of-range numbers', () => {
  const hello: RingFrame = { hello: { runId: 'run-a', generation: 1, fromRank: 0, size: 2 } };
  const abort: RingFrame = { abort: { culpritRank: 1, kind: 'timeout', reporterRank: 0, detail: 'late' } };
  const odd: RingFrame[] = [
    { chunk: { ...frame('r', 2).chunk, elements: '12' } },
    { chunk: { ...frame('r', 2).chunk, segment: 2 ** 32 } },
    { chunk: { ...frame('r', 2).chunk, data: 'AAAAAA==' } },
    { chunk: { ...frame('r', 2).chunk, id: { runId: 'r', generation: -1 } } },
  ];
  for (const f of [hello, abort, ...odd]) {
    assert.equal(encodeChunkFrame(f), undefined);
    assert.ok(codec.serialize(f).equals(pbEncode(f)));
  }
  for (const f of [hello, abort]) assert.deepEqual(codec.deserialize(pbEncode(f)), pbDecode(pbEncode(f)));
});

test('decoding matches protobufjs on its own encoding and on mutated, cut and extended frames (or both throw)', () => {
  let seed = 12345;
  const rand = (n: number): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n;
  const outcome = (decode: (b: Buffer) => RingFrame__Output, b: Buffer): unknown => {
    try {
      return plain(decode(b));
    } catch {
      return 'throws';
    }
  };
  const originals = [frame('run-a', 4), frame('é', 9, true), frame('', 0)].flatMap((f) => [pbEncode(f), encodeChunkFrame(f)!]);
  let fastTaken = 0;
  let cases = 0;
  for (const original of originals) {
    assert.deepEqual(outcome(codec.deserialize, original), outcome(pbDecode, original));
    for (let i = 0; i < 600; i++) {
      const b = Buffer.from(original);
      const kind = rand(3);
      let bytes = b;
      if (kind === 0) b[rand(b.length)] = rand(256);
      else if (kind === 1) bytes = b.subarray(0, rand(b.length));
      else bytes = Buffer.concat([b, Buffer.from([rand(256), rand(256), rand(256)])]);
      if (decodeChunkFrame(bytes)) fastTaken++;
      assert.deepEqual(outcome(codec.deserialize, bytes), outcome(pbDecode, bytes), `case ${i} (${kind}) of ${original.toString('hex').slice(0, 40)}`);
      cases++;
    }
  }
  // Most single-byte changes still leave a well-formed chunk: the fast path was exercised, not bypassed.
  assert.ok(fastTaken > cases / 10, `fast path taken ${fastTaken} of ${cases}`);
});

test('the Ring method of the loaded package uses the codec (clients and servers take it from there)', () => {
  const ring = serviceDefinition(COLLECTIVE_SERVICE).Ring;
  const f = frame('run-a', 8);
  assert.ok(ring.requestSerialize(f).equals(encodeChunkFrame(f)!));
});
