// Hostile gRPC cases for a generator + discriminator pair: every method of GeneratorService and
// DiscriminatorService, grpc.health.v1.Health and server reflection. Families:
//   bytes    malformed protobuf (seeded random bytes, truncated and bit-flipped encodings, broken
//            varints, impossible lengths, bad wire types), sent raw
//   fields   well-formed messages with wrong ids (foreign, stale, future, absurd), wrong dtypes,
//            shapes (huge, negative, overflowing), byte counts, NaN/Inf, out-of-range images
//   weights  LoadWeights streams broken in the header, in one chunk, in their order, or cut short
//   limits   oversized messages and cancelled calls
// A valid TrainStep / ApplyUpstreamGradient base carries a far-future id, so any mutation that
// still decodes is refused by the step gate; a state change is therefore always a bug.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { DISCRIMINATOR_SERVICE, GENERATOR_SERVICE, HEALTH_SERVICE } from '../../services/wire/proto.ts';
import { snapshotToChunks, type WeightsState } from '../../services/wire/weights-stream.ts';
import type { WeightsChunk } from '../../services/wire/generated/gantry/v1/WeightsChunk.ts';
import { encode, RawClient, type RawMethod, rawMethod } from './raw-grpc.ts';
import { type CaseSpec, Hostile } from './tally.ts';

type Role = 'generator' | 'discriminator';

export interface GrpcPair {
  gen: string;
  disc: string;
  runId: string;
  /** Batch size and D-steps per iteration of both nodes. */
  B: number;
  k: number;
  /** A valid in-range fake batch, (B, 28, 28, 1). */
  fake: Float32Array;
  /** The services' current weights (valid LoadWeights material). */
  weights(role: Role): Promise<WeightsState>;
  /** Arms a role's update / load gate for (t, s) as its scheduler would; undefined where nothing can arm (service processes). */
  arm?: (role: Role, gate: 'update' | 'load', iteration: number, step: number) => void;
  /** Closes every gate again. */
  disarm?: () => void;
  /** The server's receive limit, when small enough to exceed in a test. */
  maxMessageBytes?: number;
}

const FUTURE = 1_000_000;
/** Clear answers of a call that must be refused. */
const REFUSED = ['INVALID_ARGUMENT', 'FAILED_PRECONDITION'] as const;
const FIELD = /^[a-z_]+(\[\d+\])?([.[][\w\]"[.]+)*: |refused/;

const reflectionMethod = (version: 'v1' | 'v1alpha'): RawMethod => ({
  service: `grpc.reflection.${version}.ServerReflection`, method: 'ServerReflectionInfo', kind: 'bidi',
  def: { path: `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`, requestStream: true, responseStream: true,
    responseDeserialize: (b: Buffer) => b } as unknown as MethodDefinition<object, object>,
});

function tensor(data: Float32Array, shape: readonly number[], dtype: string | number = 'FLOAT32'): object {
  return { dtype, shape: [...shape], data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}

export function grpcCases(p: GrpcPair, raw: RawClient, seed: number): CaseSpec[] {
  const h = new Hostile(seed);
  const { B, k, runId } = p;
  const imageShape = [B, 28, 28, 1];
  const zeros = new Float32Array(B * 784);
  const m = {
    generate: rawMethod(GENERATOR_SERVICE, 'Generate'),
    apply: rawMethod(GENERATOR_SERVICE, 'ApplyUpstreamGradient'),
    gWeights: rawMethod(GENERATOR_SERVICE, 'StreamWeights'),
    gLoad: rawMethod(GENERATOR_SERVICE, 'LoadWeights'),
    train: rawMethod(DISCRIMINATOR_SERVICE, 'TrainStep'),
    grad: rawMethod(DISCRIMINATOR_SERVICE, 'GeneratorGrad'),
    dWeights: rawMethod(DISCRIMINATOR_SERVICE, 'StreamWeights'),
    dLoad: rawMethod(DISCRIMINATOR_SERVICE, 'LoadWeights'),
    check: rawMethod(HEALTH_SERVICE, 'Check'),
    watch: rawMethod(HEALTH_SERVICE, 'Watch'),
  };
  const send = (mm: RawMethod, msgs: Buffer[], opts: { cancelAfterMs?: number; deadlineMs?: number } = {}) =>
    raw.call(mm.service === DISCRIMINATOR_SERVICE ? p.disc : p.gen, mm, msgs, opts);

  // Valid bases: read-only calls at a valid id; state-changing ones at a far-future id.
  const bases: { mm: RawMethod; msg: object; expect: readonly string[] }[] = [
    { mm: m.generate, msg: { id: { runId, iteration: 3, step: 0 }, batchSize: B }, expect: [...REFUSED, 'OK'] },
    { mm: m.apply, msg: { id: { runId, iteration: FUTURE, step: k }, grad: tensor(zeros, imageShape) }, expect: [...REFUSED, 'NOT_APPLIED'] },
    { mm: m.train, msg: { id: { runId, iteration: FUTURE, step: 0 }, fake: tensor(p.fake, imageShape) }, expect: [...REFUSED, 'NOT_APPLIED'] },
    { mm: m.grad, msg: { id: { runId, iteration: 3, step: k }, fake: tensor(p.fake, imageShape) }, expect: [...REFUSED, 'OK'] },
    { mm: m.gWeights, msg: {}, expect: ['INVALID_ARGUMENT', 'OK'] },
    { mm: m.dWeights, msg: {}, expect: ['INVALID_ARGUMENT', 'OK'] },
    { mm: m.check, msg: { service: '' }, expect: ['INVALID_ARGUMENT', 'OK', 'NOT_FOUND'] },
  ];
  const cases: CaseSpec[] = [];

  // ---- bytes: malformed protobuf ---------------------------------------------------------------
  const fixed: [string, Buffer][] = [
    ['unterminated varint', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
    ['length prefix 2^31', Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x01])],
    ['wire type 7', Buffer.from([0x0f, 0x01])],
    ['wire type 6', Buffer.from([0x0e, 0x01])],
    ['field number 0', Buffer.from([0x00, 0x01])],
    ['group start without end', Buffer.from([0x0b, 0x08, 0x01])],
    ['end group without start', Buffer.from([0x0c])],
    ['fixed64 cut short', Buffer.from([0x09, 0x01, 0x02])],
    ['nested message cut short', Buffer.from([0x0a, 0x10, 0x0a, 0x02])],
  ];
  const rawBases: { mm: RawMethod; valid?: Buffer; expect: readonly string[]; extra?: { cancelAfterMs?: number } }[] = [
    ...bases.map((b) => ({ mm: b.mm, valid: encode(b.mm, b.msg), expect: b.expect })),
    // Watch streams forever on a decodable request: the client cancels it.
    { mm: m.watch, valid: encode(m.watch, { service: '' }), expect: ['INVALID_ARGUMENT', 'CANCELLED'], extra: { cancelAfterMs: 40 } },
    { mm: reflectionMethod('v1'), expect: ['INVALID_ARGUMENT', 'OK'] },
    { mm: reflectionMethod('v1alpha'), expect: ['INVALID_ARGUMENT', 'OK'] },
  ];
  for (const b of rawBases) {
    const label = `${b.mm.service.replace('gantry.v1.', '')}/${b.mm.method}`;
    const bodies: [string, Buffer][] = [...fixed];
    for (let i = 0; i < 6; i++) {
      const n = h.int(1, 96);
      bodies.push([`random ${n} bytes #${i}`, h.bytes(n)]);
    }
    if (b.valid && b.valid.length > 4) {
      for (let i = 0; i < 4; i++) {
        const cut = h.int(1, b.valid.length - 1);
        bodies.push([`valid encoding cut at byte ${cut} of ${b.valid.length}`, b.valid.subarray(0, cut)]);
      }
      for (let i = 0; i < 4; i++) {
        // Flips in the first 64 bytes hit tags, lengths and ids rather than tensor data.
        const at = h.int(0, Math.min(63, b.valid.length - 1));
        const bit = h.int(0, 7);
        bodies.push([`valid encoding with bit ${bit} of byte ${at} flipped`, Hostile.flip(b.valid, at, bit)]);
      }
    }
    for (const [what, body] of bodies) {
      cases.push({ name: `${label}: ${what}`, expect: b.expect, send: () => send(b.mm, [body], b.extra) });
    }
  }

  // ---- fields: ids --------------------------------------------------------------------------------
  type Unary = { name: string; mm: RawMethod; msg: (id: object | undefined) => object; steps: [number, number]; role?: Role };
  const unaries: Unary[] = [
    { name: 'Generate', mm: m.generate, msg: (id) => ({ id, batchSize: B }), steps: [0, k] },
    { name: 'ApplyUpstreamGradient', mm: m.apply, msg: (id) => ({ id, grad: tensor(zeros, imageShape) }), steps: [k, k], role: 'generator' },
    { name: 'TrainStep', mm: m.train, msg: (id) => ({ id, fake: tensor(p.fake, imageShape) }), steps: [0, k - 1], role: 'discriminator' },
    { name: 'GeneratorGrad', mm: m.grad, msg: (id) => ({ id, fake: tensor(p.fake, imageShape) }), steps: [k, k] },
  ];
  const runIds: [string, string][] = [
    ['empty run id', ''], ['another run id', 'another-run'], ['run id with a trailing NUL', `${runId}\u0000`],
    ['100,000-character run id', 'r'.repeat(100_000)], ['run id of 200 emoji', '\u{1F600}'.repeat(200)], ['run id in upper case', runId.toUpperCase()],
  ];
  for (const u of unaries) {
    const it = u.role ? FUTURE : 3;
    cases.push({ name: `${u.name}: id absent`, expect: ['INVALID_ARGUMENT'], names: /^id: /, send: () => send(u.mm, [encode(u.mm, u.msg(undefined))]) });
    for (const [what, r] of runIds) {
      cases.push({ name: `${u.name}: ${what}`, expect: ['FAILED_PRECONDITION'], names: /^id\.run_id: /,
        send: () => send(u.mm, [encode(u.mm, u.msg({ runId: r, iteration: it, step: u.steps[0] }))]) });
    }
    for (const [what, iteration] of [['iteration 2^53', 2 ** 53], ['iteration 2^64-1', '18446744073709551615'], ['iteration 2^63', '9223372036854775808']] as const) {
      cases.push({ name: `${u.name}: ${what}`, expect: ['INVALID_ARGUMENT'], names: /^id\.iteration: /,
        send: () => send(u.mm, [encode(u.mm, u.msg({ runId, iteration, step: u.steps[0] }))]) });
    }
    const badSteps = [u.steps[1] + 1, u.steps[1] + 2, 2 ** 31, 2 ** 32 - 1, ...(u.steps[0] > 0 ? [0, u.steps[0] - 1] : [])];
    for (const step of [...new Set(badSteps)]) {
      cases.push({ name: `${u.name}: id.step ${step} (valid ${u.steps[0]}..${u.steps[1]})`, expect: ['INVALID_ARGUMENT'], names: /^id\.step: /,
        send: () => send(u.mm, [encode(u.mm, u.msg({ runId, iteration: it, step }))]) });
    }
  }

  // ---- fields: tensors ------------------------------------------------------------------------------
  const tensorMethods: { name: string; mm: RawMethod; field: 'fake' | 'grad'; id: object; image: boolean; extra?: object }[] = [
    { name: 'ApplyUpstreamGradient', mm: m.apply, field: 'grad', id: { runId, iteration: FUTURE, step: k }, image: false },
    { name: 'TrainStep', mm: m.train, field: 'fake', id: { runId, iteration: FUTURE, step: 0 }, image: true },
    { name: 'GeneratorGrad', mm: m.grad, field: 'fake', id: { runId, iteration: 3, step: k }, image: true },
  ];
  const n = B * 784;
  const shapes: [string, number[]][] = [
    ['scalar shape []', []], ['rank 1 [B]', [B]], ['rank 3', [B, 28, 28]], ['rank 5', [B, 28, 28, 1, 1]], ['batch B+1', [B + 1, 28, 28, 1]],
    ['height 27', [B, 27, 28, 1]], ['width 29', [B, 28, 29, 1]], ['3 channels', [B, 28, 28, 3]], ['zero batch', [0, 28, 28, 1]],
    ['negative batch -1', [-1, 28, 28, 1]], ['negative height', [B, -28, 28, 1]], ['dimension -2^63', [B, 28, 28, -(2 ** 62)]],
    ['one dimension of 2^40', [2 ** 40]], ['2^31 x 2^31', [2 ** 31, 2 ** 31]], ['product overflowing 2^64', [2 ** 40, 2 ** 40, 2 ** 40]],
    ['2^28 + 1 elements', [2 ** 28 + 1]], ['100 dimensions of 1', new Array(100).fill(1)], ['transposed (B, 1, 28, 28)', [B, 1, 28, 28]],
  ];
  const byteCounts: [string, number][] = [['no bytes', 0], ['one byte short', n * 4 - 1], ['one value short', n * 4 - 4], ['one value long', n * 4 + 4],
    ['one byte long', n * 4 + 1], ['half the bytes (float16 size)', n * 2], ['double the bytes', n * 8]];
  const poison: [string, (a: Float32Array) => void][] = [
    ['NaN at index 0', (a) => { a[0] = Number.NaN; }], ['NaN at the last index', (a) => { a[a.length - 1] = Number.NaN; }],
    ['+Inf in the middle', (a) => { a[a.length >> 1] = Number.POSITIVE_INFINITY; }], ['-Inf at index 1', (a) => { a[1] = Number.NEGATIVE_INFINITY; }],
    ['signalling NaN bits', (a) => { new Uint32Array(a.buffer)[5] = 0x7f800001; }], ['negative NaN bits', (a) => { new Uint32Array(a.buffer)[6] = 0xffc00000; }],
    ['all NaN', (a) => { a.fill(Number.NaN); }],
  ];
  const outOfRange: [string, (a: Float32Array) => void][] = [
    ['1.0000001', (a) => { a[3] = 1.0000001; }], ['-1.0000001', (a) => { a[4] = -1.0000001; }], ['values in [50, 100]', (a) => { for (let i = 0; i < a.length; i++) a[i] = 50 + (i % 51); }],
    ['-3e38', (a) => { a[7] = -3e38; }], ['3.4e38 (float32 max)', (a) => { a[a.length - 1] = 3.4028234663852886e38; }], ['255 (uint8 pixels)', (a) => { a.fill(255); }],
  ];
  for (const t of tensorMethods) {
    const base = t.image ? p.fake : zeros;
    const msg = (tensorMsg: object | undefined): Buffer => encode(t.mm, { id: t.id, [t.field]: tensorMsg, ...t.extra });
    const c = (what: string, names: RegExp, body: () => Buffer, expect: readonly string[] = ['INVALID_ARGUMENT']): void => {
      cases.push({ name: `${t.name}: ${t.field} ${what}`, expect, names, send: () => send(t.mm, [body()]) });
    };
    const f = t.field;
    c('absent', new RegExp(`^${f}: `), () => msg(undefined));
    for (const [what, dtype, bytes] of [['FLOAT16 (not accepted)', 'FLOAT16', n * 2], ['BFLOAT16 (not accepted)', 'BFLOAT16', n * 2],
      ['unknown dtype 7', 7, n * 4], ['dtype 2^31-1', 2 ** 31 - 1, n * 4], ['negative dtype -1', -1, n * 4]] as const) {
      c(`dtype ${what}`, new RegExp(`^${f}\\.dtype: `), () => msg({ dtype, shape: imageShape, data: Buffer.alloc(bytes) }));
    }
    for (const [what, shape] of shapes) {
      c(`shape ${what}`, new RegExp(`^${f}\\.shape`), () => msg({ dtype: 'FLOAT32', shape, data: Buffer.from(base.buffer, 0, Math.min(base.byteLength, 4 * Math.max(0, shape.reduce((a, d) => a * d, 1)))) }));
    }
    for (const [what, bytes] of byteCounts) {
      c(`data of ${what} (${bytes})`, new RegExp(`^${f}\\.data: `), () => msg({ dtype: 'FLOAT32', shape: imageShape, data: Buffer.alloc(bytes) }));
    }
    for (const [what, edit] of poison) {
      c(`data with ${what}`, new RegExp(`^${f}\\.data: expected finite values`), () => { const a = new Float32Array(base); edit(a); return msg(tensor(a, imageShape)); });
    }
    if (t.image) {
      for (const [what, edit] of outOfRange) {
        c(`data with ${what}`, /^fake\.data: expected values in \[-1, 1\]/, () => { const a = new Float32Array(base); edit(a); return msg(tensor(a, imageShape)); });
      }
    }
  }
  cases.push({ name: 'Generate: batch_size 1', expect: ['INVALID_ARGUMENT'], names: /^batch_size: /, send: () => send(m.generate, [encode(m.generate, { id: { runId, iteration: 1, step: 0 }, batchSize: 1 })]) });
  cases.push({ name: 'Generate: batch_size B+1', expect: ['INVALID_ARGUMENT'], names: /^batch_size: /, send: () => send(m.generate, [encode(m.generate, { id: { runId, iteration: 1, step: 0 }, batchSize: B + 1 })]) });
  cases.push({ name: 'Generate: batch_size 2^32-1', expect: ['INVALID_ARGUMENT'], names: /^batch_size: /, send: () => send(m.generate, [encode(m.generate, { id: { runId, iteration: 1, step: 0 }, batchSize: 2 ** 32 - 1 })]) });
  for (const dt of [3, 99, -5]) {
    cases.push({ name: `Generate: response_dtype ${dt}`, expect: ['INVALID_ARGUMENT'], names: /^response_dtype: /, send: () => send(m.generate, [encode(m.generate, { id: { runId, iteration: 1, step: 0 }, batchSize: B, responseDtype: dt })]) });
    cases.push({ name: `GeneratorGrad: response_dtype ${dt}`, expect: ['INVALID_ARGUMENT'], names: /^response_dtype: /, send: () => send(m.grad, [encode(m.grad, { id: { runId, iteration: 1, step: k }, fake: tensor(p.fake, imageShape), responseDtype: dt })]) });
  }

  // ---- fields: foreign, future, stale and duplicate steps -------------------------------------------
  const update = [
    { name: 'TrainStep', mm: m.train, role: 'discriminator' as Role, msg: (it: number, s: number) => encode(m.train, { id: { runId, iteration: it, step: s }, fake: tensor(p.fake, imageShape) }), steps: Array.from({ length: k }, (_, i) => i) },
    { name: 'ApplyUpstreamGradient', mm: m.apply, role: 'generator' as Role, msg: (it: number, s: number) => encode(m.apply, { id: { runId, iteration: it, step: s }, grad: tensor(zeros, imageShape) }), steps: [k] },
  ];
  for (const u of update) {
    for (const it of [FUTURE, 2 ** 40, 2 ** 53 - 1, 1000, 101]) {
      for (const s of u.steps) {
        cases.push({ name: `${u.name}: unarmed future step (${it}, ${s})`, expect: ['FAILED_PRECONDITION'], names: /refused: .*expected/, send: () => send(u.mm, [u.msg(it, s)]) });
        cases.push({ name: `${u.name}: unarmed future step (${it}, ${s}) sent twice`, expect: ['FAILED_PRECONDITION'], names: /refused: .*expected/,
          send: async () => { await send(u.mm, [u.msg(it, s)]); return send(u.mm, [u.msg(it, s)]); } });
      }
    }
    if (p.arm) {
      // The gate is armed for (100, s0): neighbours of it, and a far-future step, are refused.
      const s0 = u.steps[0];
      const armed: [string, number, number][] = [['the next iteration', 101, s0], ['the previous iteration', 99, s0], ['iteration 2^40', 2 ** 40, s0],
        ['a step out of order', 100, s0 + 1], ['the armed step of another role', 100, k - 1 === s0 ? k : k - 1]];
      for (const [what, it, s] of armed) {
        if (u.name === 'TrainStep' && s > k - 1) continue;
        if (u.name === 'ApplyUpstreamGradient' && s !== k) continue;
        cases.push({ name: `${u.name}: armed (100, ${s0}), sent ${what} (${it}, ${s})`, expect: ['FAILED_PRECONDITION'], names: /expected \(iteration 100, step/,
          send: async () => { p.arm!(u.role, 'update', 100, s0); try { return await send(u.mm, [u.msg(it, s)]); } finally { p.disarm!(); } } });
      }
    }
  }
  // Stale ids: retries of steps the services applied before the suite (answered, never re-applied).
  cases.push({ name: 'TrainStep: stale step (0, 0), a duplicate of an applied step', expect: ['NOT_APPLIED'], send: () => send(m.train, [update[0].msg(0, 0)]) });
  cases.push({ name: 'TrainStep: stale step (0, 0) sent three times', expect: ['NOT_APPLIED'],
    send: async () => { await send(m.train, [update[0].msg(0, 0)]); await send(m.train, [update[0].msg(0, 0)]); return send(m.train, [update[0].msg(0, 0)]); } });
  cases.push({ name: 'ApplyUpstreamGradient: stale iteration 0, a duplicate of an applied step', expect: ['NOT_APPLIED'], send: () => send(m.apply, [update[1].msg(0, k)]) });

  // ---- weights: LoadWeights streams -------------------------------------------------------------------
  for (const role of ['generator', 'discriminator'] as const) cases.push(...loadCases(p, raw, role, role === 'generator' ? m.gLoad : m.dLoad, h));

  // ---- limits: oversized messages, cancelled calls ----------------------------------------------------
  if (p.maxMessageBytes !== undefined) {
    const big = p.maxMessageBytes + 1024;
    const over = (name: string, mm: RawMethod, body: () => Buffer): void => {
      // LoadWeights may refuse before reading its stream (nothing armed): also clear.
      const expect = mm.method === 'LoadWeights' ? ['RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION'] : ['RESOURCE_EXHAUSTED'];
      cases.push({ name: `${name}: message of ${big} bytes (limit ${p.maxMessageBytes})`, expect, send: () => send(mm, [body()]) });
    };
    over('TrainStep', m.train, () => encode(m.train, { id: { runId, iteration: FUTURE, step: 0 }, fake: { dtype: 'FLOAT32', shape: imageShape, data: Buffer.alloc(big) } }));
    over('ApplyUpstreamGradient', m.apply, () => encode(m.apply, { id: { runId, iteration: FUTURE, step: k }, grad: { dtype: 'FLOAT32', shape: imageShape, data: Buffer.alloc(big) } }));
    over('Generate (run id)', m.generate, () => encode(m.generate, { id: { runId: 'x'.repeat(big), iteration: 0, step: 0 }, batchSize: B }));
    over('GeneratorGrad', m.grad, () => encode(m.grad, { id: { runId, iteration: 1, step: k }, fake: { dtype: 'FLOAT32', shape: imageShape, data: Buffer.alloc(big) } }));
    over('Health/Check (service name)', m.check, () => encode(m.check, { service: 's'.repeat(big) }));
    over('GeneratorService/LoadWeights (one chunk)', m.gLoad, () => encode(m.gLoad, { tensorName: 'x', shape: [big / 4], data: Buffer.alloc(big) }));
    over('DiscriminatorService/LoadWeights (one chunk)', m.dLoad, () => encode(m.dLoad, { tensorName: 'x', shape: [big / 4], data: Buffer.alloc(big) }));
  }
  for (const [name, mm, body] of [
    ['TrainStep', m.train, () => update[0].msg(FUTURE, 0)], ['ApplyUpstreamGradient', m.apply, () => update[1].msg(FUTURE, k)],
    ['Generate', m.generate, () => encode(m.generate, { id: { runId, iteration: 5, step: 0 }, batchSize: B })],
    ['GeneratorGrad', m.grad, () => encode(m.grad, { id: { runId, iteration: 5, step: k }, fake: tensor(p.fake, imageShape) })],
    ['GeneratorService/StreamWeights', m.gWeights, () => encode(m.gWeights, {})], ['DiscriminatorService/StreamWeights', m.dWeights, () => encode(m.dWeights, {})],
  ] as [string, RawMethod, () => Buffer][]) {
    for (const ms of [0, 5]) {
      // A cancellation races the answer: either is a clear outcome, and neither may change state.
      cases.push({ name: `${name}: cancelled by the client after ${ms} ms`, expect: ['CANCELLED', 'FAILED_PRECONDITION', 'OK'], send: () => send(mm, [body()], { cancelAfterMs: ms }) });
    }
  }
  // Health checks of services that do not exist, with bounded answers.
  for (const [what, svc] of [['unknown service', 'gantry.v1.Nope'], ['100,000-character service name', 'n'.repeat(100_000)], ['NUL service name', '\u0000']] as const) {
    cases.push({ name: `Health/Check: ${what}`, expect: ['NOT_FOUND'], send: () => send(m.check, [encode(m.check, { service: svc })]) });
  }
  return cases;
}

/** Broken LoadWeights streams for `role`, built from the service's own current weights. */
function loadCases(p: GrpcPair, raw: RawClient, role: Role, mm: RawMethod, h: Hostile): CaseSpec[] {
  const LAST = role === 'generator' ? { iteration: 500, step: -1 } : { iteration: 500, step: p.k - 1 };
  const label = `${role === 'generator' ? 'GeneratorService' : 'DiscriminatorService'}/LoadWeights`;
  const expect = p.arm ? ['INVALID_ARGUMENT'] : ['FAILED_PRECONDITION'];
  const names = p.arm ? /^(chunk\[\d+\]|weights|request|(generator|discriminator) (snapshot|tensor)|LoadWeights)/ : /^LoadWeights refused/;
  let cached: WeightsChunk[] | undefined;
  const chunksOf = async (chunkBytes = 4096): Promise<WeightsChunk[]> => {
    if (cached) return [...cached];
    const w = await p.weights(role);
    // Perturb the values so that a partial load would show in the state digest.
    const bump = (a: Float32Array): Float32Array => a.map((v) => v + 0.25);
    const snapshot = { ...w.snapshot, tensors: w.snapshot.tensors.map((t) => ({ ...t, data: bump(t.data) })) };
    cached = [...snapshotToChunks({ snapshot, lastApplied: LAST }, chunkBytes)];
    return [...cached];
  };
  const load = (edit: (c: WeightsChunk[]) => (WeightsChunk | Buffer)[], opts: { cancelAfterMs?: number; armAt?: typeof LAST } = {}) => async () => {
    const chunks = edit(await chunksOf());
    const bytes = chunks.map((c) => (Buffer.isBuffer(c) ? c : encode(mm, c)));
    p.arm?.(role, 'load', (opts.armAt ?? LAST).iteration, (opts.armAt ?? LAST).step);
    try {
      return await raw.call(role === 'generator' ? p.gen : p.disc, mm, bytes, { cancelAfterMs: opts.cancelAfterMs });
    } finally {
      p.disarm?.();
    }
  };
  const cases: CaseSpec[] = [];
  const c = (what: string, edit: (c: WeightsChunk[]) => (WeightsChunk | Buffer)[], extra: { expect?: readonly string[]; names?: RegExp; cancelAfterMs?: number; armAt?: typeof LAST } = {}): void => {
    cases.push({ name: `${label}: ${what}`, expect: extra.expect ?? expect, names: extra.names ?? names, send: load(edit, extra) });
  };
  const hdr = (edit: (x: NonNullable<WeightsChunk['header']>) => void) => (cs: WeightsChunk[]): WeightsChunk[] => {
    const header = { ...cs[0].header! };
    edit(header);
    return [{ header }, ...cs.slice(1)];
  };
  const at = (i: number, edit: (x: WeightsChunk) => WeightsChunk) => (cs: WeightsChunk[]): WeightsChunk[] => cs.map((x, j) => (j === Math.min(i, cs.length - 1) ? edit({ ...x }) : x));
  // Header.
  c('empty stream', () => []);
  c('no header chunk', (cs) => cs.slice(1));
  c('header repeated in chunk 1', (cs) => [cs[0], cs[0], ...cs.slice(1)]);
  c('header repeated at the end', (cs) => [...cs, cs[0]]);
  c(`header role "${role === 'generator' ? 'discriminator' : 'generator'}"`, hdr((x) => { x.role = role === 'generator' ? 'discriminator' : 'generator'; }));
  c('header role of 100,000 characters', hdr((x) => { x.role = 'q'.repeat(100_000); }));
  for (const [what, json] of [['empty', ''], ['not JSON', '{layers:'], ['an array', '[1,2]'], ['null', 'null'], ['a string', '"mlp"'], ['100,000 characters', '{'.repeat(100_000)]] as const) {
    c(`header arch_json ${what}`, hdr((x) => { x.archJson = json; }));
  }
  c('header arch_json of another architecture', hdr((x) => { x.archJson = JSON.stringify({ kind: 'mlp', zDim: 3, width: 5 }); }));
  for (const kind of ['sgd', '', 'ADAM', 'a'.repeat(100_000)]) c(`header optimizer_kind "${kind.slice(0, 12)}" (${kind.length} chars)`, hdr((x) => { x.optimizerKind = kind; }));
  for (const [what, v] of [['-2', -2], ['-2^62', -(2 ** 62)], ['2^63-1', '9223372036854775807']] as const) {
    c(`header last_applied_iteration ${what}`, hdr((x) => { x.lastAppliedIteration = v; }));
    c(`header last_applied_step ${what}`, hdr((x) => { x.lastAppliedStep = v; }));
  }
  for (const [what, f] of [['0', () => 0], ['-4 bytes', (t: number) => t - 4], ['+4 bytes', (t: number) => t + 4], ['2^60', () => 2 ** 60], ['2^64-1', () => '18446744073709551615']] as const) {
    c(`header total_bytes ${what}`, hdr((x) => { x.totalBytes = f(Number(x.totalBytes)); }));
  }
  for (const [what, f] of [['+1', (v: number) => v + 1], ['-1', (v: number) => v - 1], ['0', () => 0], ['2^32-1', () => 2 ** 32 - 1]] as const) {
    c(`header model_tensor_count ${what}`, hdr((x) => { x.modelTensorCount = f(x.modelTensorCount!); }));
    c(`header slot_count ${what}`, hdr((x) => { x.slotCount = f(x.slotCount!); }));
  }
  c('header optimizer_step 2^64-1', hdr((x) => { x.optimizerStep = '18446744073709551615'; }), { expect: [...expect, 'INVALID_ARGUMENT'] });
  c('header optimizer_hyper lr NaN', hdr((x) => { x.optimizerHyper = { ...x.optimizerHyper, learningRate: Number.NaN }; }), { expect: [...expect, 'INVALID_ARGUMENT'] });
  // One chunk (a seeded pick of which).
  // Two seeded picks of the chunk to break: one early (often a tensor's first chunk), one later.
  for (const i of [h.int(1, 3), h.int(4, 9)]) {
    c(`chunk ${i} shape [2^40]`, at(i, (x) => ({ ...x, shape: [2 ** 40] })));
    c(`chunk ${i} shape with -1`, at(i, (x) => ({ ...x, shape: [-1, ...(x.shape ?? []).slice(1)] })));
    c(`chunk ${i} shape with an extra dimension`, at(i, (x) => ({ ...x, shape: [...(x.shape ?? []), 1] })));
    c(`chunk ${i} shape [] (scalar)`, at(i, (x) => ({ ...x, shape: [] })));
    c(`chunk ${i} byte_offset + 4`, at(i, (x) => ({ ...x, byteOffset: Number(x.byteOffset) + 4 })));
    c(`chunk ${i} byte_offset + 1 (unaligned)`, at(i, (x) => ({ ...x, byteOffset: Number(x.byteOffset) + 1 })));
    c(`chunk ${i} byte_offset 2^60`, at(i, (x) => ({ ...x, byteOffset: 2 ** 60 })));
    c(`chunk ${i} tensor_name empty`, at(i, (x) => ({ ...x, tensorName: '' })));
    c(`chunk ${i} tensor_name of 100,000 characters`, at(i, (x) => ({ ...x, tensorName: 't'.repeat(100_000) })));
    c(`chunk ${i} tensor_name renamed`, at(i, (x) => ({ ...x, tensorName: `${x.tensorName}_renamed` })));
    c(`chunk ${i} group unknown 5`, at(i, (x) => ({ ...x, group: 5 as unknown as 'MODEL' })));
    c(`chunk ${i} group swapped`, at(i, (x) => ({ ...x, group: x.group === 'OPTIMIZER_SLOT' ? 'MODEL' : 'OPTIMIZER_SLOT' })));
    c(`chunk ${i} data 4 bytes short`, at(i, (x) => ({ ...x, data: Buffer.from(x.data as Buffer).subarray(0, Math.max(0, (x.data as Buffer).length - 4)) })));
    c(`chunk ${i} data 4 bytes long`, at(i, (x) => ({ ...x, data: Buffer.concat([x.data as Buffer, Buffer.alloc(4)]) })));
    c(`chunk ${i} data 3 bytes long (not whole floats)`, at(i, (x) => ({ ...x, data: Buffer.concat([x.data as Buffer, Buffer.alloc(3)]) })));
    c(`chunk ${i} data with NaN`, at(i, (x) => { const d = Buffer.from(x.data as Buffer); if (d.length >= 4) d.writeFloatLE(Number.NaN, 0); return { ...x, data: d }; }));
    c(`chunk ${i} data with -Inf`, at(i, (x) => { const d = Buffer.from(x.data as Buffer); if (d.length >= 4) d.writeFloatLE(Number.NEGATIVE_INFINITY, d.length - 4); return { ...x, data: d }; }));
    c(`chunk ${i} carries a header too`, at(i, (x) => ({ ...x, header: { role } })));
    c(`chunk ${i} dropped`, (cs) => cs.filter((_, j) => j !== i));
    c(`chunk ${i} sent twice`, (cs) => [...cs.slice(0, i + 1), cs[i], ...cs.slice(i + 1)]);
    c(`two chunks of one tensor swapped, from chunk ${i}`, (cs) => {
      const j = cs.findIndex((x, n) => n >= i && cs[n + 1]?.tensorName === x.tensorName);
      return [...cs.slice(0, j), cs[j + 1], cs[j], ...cs.slice(j + 2)];
    });
    c(`stream cut after chunk ${i}`, (cs) => cs.slice(0, i + 1));
    c(`chunk ${i} replaced by random bytes`, (cs) => cs.map((x, j) => (j === i ? h.bytes(h.int(3, 40)) : x)));
    c(`chunk ${i} encoding cut short`, (cs) => cs.map((x, j) => (j === i ? encode(mm, x).subarray(0, 9) : x)));
  }
  c('last chunk dropped', (cs) => cs.slice(0, -1));
  c('an extra tensor at the end', (cs) => [...cs, { tensorName: 'extra/kernel', group: 'OPTIMIZER_SLOT', shape: [2], byteOffset: 0, data: Buffer.alloc(8) }]);
  c('model tensors after the slots', (cs) => { const model = cs.filter((x) => x.group === 'MODEL' && !x.header); const slots = cs.filter((x) => x.group === 'OPTIMIZER_SLOT'); return [cs[0], ...slots, ...model]; });
  c('the chunks of the longest tensor reversed', (cs) => { const name = longest(cs); const own = cs.filter((x) => x.tensorName === name); return [...cs.filter((x) => x.tensorName !== name), ...own.reverse()]; });
  if (p.arm) {
    c('armed for another snapshot step (iteration 499)', (cs) => cs, { armAt: { ...LAST, iteration: 499 }, expect: ['FAILED_PRECONDITION'], names: /refused: .*expected \(iteration 499/ });
    c('a valid stream cancelled by the client mid-stream', (cs) => cs.slice(0, 3), { cancelAfterMs: 20, expect: ['CANCELLED'], names: /./ });
  }
  return cases;
}

/** The name of the tensor with the most chunks. */
function longest(cs: WeightsChunk[]): string | undefined {
  const counts = new Map<string, number>();
  for (const x of cs) if (x.tensorName) counts.set(x.tensorName, (counts.get(x.tensorName) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}
