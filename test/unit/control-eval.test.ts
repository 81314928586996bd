// The messages of periodic evaluation and backend reporting: the `eval` command and its reply
// (scores, or null when the generator has no classifier), a non-finite score surviving JSON as
// null and coming back as NaN, and the backend summary the scheduler writes into run.json.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandSchema, decodeMessage, encodeMessage, okReplySchemas } from '../../services/control/messages.ts';
import { MessageError } from '../../services/control/errors.ts';
import { toEvalResult } from '../../services/scheduler/evaluation.ts';
import { runBackend } from '../../services/scheduler/run-records.ts';
import type { EvalResult } from '../../services/eval/evaluate.ts';

const scores: EvalResult = {
  mnistScore: 7.25, fdFeatures: 12.5, fdLogits: 0.75, histogram: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
  classesCovered: 10, klUniform: 0, samples: 100,
};
const wasm = { name: 'wasm', device: 'CPU (wasm SIMD, 1 thread)', package: '@tensorflow/tfjs-backend-wasm', kernels: 'fast' };

describe('eval command and reply', () => {
  it('decodes an eval command and rejects a bad iteration naming the field', () => {
    const cmd = decodeMessage(commandSchema, encodeMessage({ type: 'eval', run: 'r1', generation: 2, iteration: 100 }), 'command');
    assert.deepEqual(cmd, { type: 'eval', run: 'r1', generation: 2, iteration: 100 });
    assert.throws(() => decodeMessage(commandSchema, encodeMessage({ type: 'eval', run: 'r1', generation: 2, iteration: -1 }), 'command'),
      (err: unknown) => err instanceof MessageError && err.field === 'iteration');
  });

  it('carries the scores exactly, or null when evaluation is off', () => {
    const reply = decodeMessage(okReplySchemas.eval, encodeMessage({ ok: true, iteration: 100, scores, seconds: 1.5 }), 'reply');
    assert.deepEqual(toEvalResult(reply.scores!), scores);
    const off = decodeMessage(okReplySchemas.eval, encodeMessage({ ok: true, iteration: 100, scores: null, seconds: 0 }), 'reply');
    assert.equal(off.scores, null);
    assert.throws(() => decodeMessage(okReplySchemas.eval, encodeMessage({ ok: true, iteration: 100, seconds: 0 }), 'reply'), /scores/);
  });

  it('turns a non-finite score (null in JSON) back into NaN; an absent distance stays absent', () => {
    const { fdFeatures: _f, fdLogits: _l, ...noReference } = scores;
    const sent = { ...noReference, mnistScore: Number.NaN };
    const reply = decodeMessage(okReplySchemas.eval, encodeMessage({ ok: true, iteration: 5, scores: sent, seconds: 0.1 }), 'reply');
    const back = toEvalResult(reply.scores!);
    assert.ok(Number.isNaN(back.mnistScore));
    assert.equal('fdFeatures' in back, false);
  });

  it('accepts a restore reply with or without the backend', () => {
    assert.deepEqual(decodeMessage(okReplySchemas.restore, encodeMessage({ ok: true, iteration: 0, backend: wasm }), 'reply').backend, wasm);
    assert.equal(decodeMessage(okReplySchemas.restore, encodeMessage({ ok: true, iteration: 0 }), 'reply').backend, undefined);
  });
});

describe('run.json backend of a distributed run', () => {
  it("is the services' backend when both agree, keeping both", () => {
    const b = runBackend({ generator: wasm, discriminator: wasm }, 'auto');
    assert.equal(b.name, 'wasm');
    assert.equal(b.device, wasm.device);
    assert.deepEqual(b.services, { generator: wasm, discriminator: wasm });
  });

  it('names each role when they differ, and says so when none was reported', () => {
    const cpu = { name: 'cpu', device: 'CPU (plain JS)' };
    const b = runBackend({ generator: wasm, discriminator: cpu }, 'auto');
    assert.equal(b.name, 'wasm (generator), cpu (discriminator)');
    assert.match(b.device, /\(generator\), CPU \(plain JS\) \(discriminator\)$/);
    const none = runBackend({ generator: undefined, discriminator: undefined }, 'wasm');
    assert.equal(none.name, 'wasm');
    assert.match(none.device, /not reported/);
  });
});
