// The trainers' periodic-evaluation hook: due iterations only, disabled (logged once) without a
// classifier, the same numbers as a one-off evaluation with the same seed, no tensor leaks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { tf } from '../../services/core/tf.ts';
import { buildGenerator, ganArch } from '../../services/core/presets.ts';
import { INFER, type Model } from '../../services/core/model.ts';
import { createPeriodicEvaluator, evalRecord } from '../../services/eval/periodic.ts';
import { openEvalSession } from '../../services/eval/session.ts';
import type { ImageSampler } from '../../services/eval/evaluate.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { tempDir, writeClassifierRun, writeTestSplit } from './eval-fixtures.ts';

let root: string;
let generator: Model;
let sampler: ImageSampler;
before(async () => {
  await tf.setBackend('cpu');
  root = await tempDir();
  generator = buildGenerator(ganArch('mlp', { gWidth: 8, dWidth: 8 }), 9);
  sampler = {
    sample: (n, seed) => tf.tidy(() => generator.apply(tf.randomNormal([n, 100], 0, 1, 'float32', seed), INFER) as tf.Tensor4D),
  };
});
after(async () => {
  generator.dispose();
  await fsp.rm(root, { recursive: true, force: true });
});

function captureLog(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const stream = { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream;
  return { log: createLogger({ component: 'test', stream }), lines };
}

test('without a classifier: logs once, disables itself, training goes on', async () => {
  const { log, lines } = captureLog();
  const ev = createPeriodicEvaluator({ every: 2, samples: 20, runsDir: path.join(root, 'no-runs'), log });
  assert.equal(ev.enabled, true);
  assert.equal(await ev.maybeEvaluate(2, sampler), undefined);
  assert.equal(ev.enabled, false);
  assert.equal(await ev.maybeEvaluate(4, sampler), undefined);
  const warnings = lines.filter((l) => /periodic evaluation disabled/.test(l));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.match(warnings[0], /gantry train classifier/);
  ev.dispose();
});

test('every = 0 is off from the start', async () => {
  const ev = createPeriodicEvaluator({ every: 0 });
  assert.equal(ev.enabled, false);
  assert.equal(await ev.maybeEvaluate(100, sampler), undefined);
  assert.throws(() => createPeriodicEvaluator({ every: -1 }), /integer >= 0/);
});

test('with a classifier: scores on due iterations, equal to a one-off evaluation with the same seed', async () => {
  const runs = path.join(root, 'runs');
  const data = await writeTestSplit(path.join(root, 'data'), 30);
  await writeClassifierRun(runs, 'classifier-1', { startedAt: '2026-02-01T00:00:00.000Z', dataDir: data });
  const ev = createPeriodicEvaluator({ every: 3, samples: 24, seed: 11, batchSize: 8, runsDir: runs });
  assert.equal(await ev.maybeEvaluate(0, sampler), undefined, 'iteration 0 is never due');
  assert.equal(await ev.maybeEvaluate(4, sampler), undefined);
  const first = await ev.maybeEvaluate(3, sampler);
  assert.ok(first, 'iteration 3 is due');
  assert.equal(first.samples, 24);
  assert.ok(first.fdFeatures !== undefined && first.fdLogits !== undefined);
  const tensors = tf.memory().numTensors;
  const second = await ev.maybeEvaluate(6, sampler);
  assert.equal(tf.memory().numTensors, tensors, 'tensor count flat across evaluations');
  assert.deepEqual(second, first, 'same generator, same seed: same scores');

  const session = await openEvalSession({ runsDir: runs, batchSize: 8 });
  try {
    assert.deepEqual(session.scoreSampler(sampler, 24, 11), first);
  } finally {
    session.dispose();
  }
  // start: the images are drawn before it resolves, so a generator that changes right after (as
  // a trainer's does, training on while the distances run) does not change the scores.
  let flip = false;
  const changing: ImageSampler = { sample: (n, seed) => (flip ? tf.zeros([n, 28, 28, 1]) as tf.Tensor4D : sampler.sample(n, seed)) };
  const started = await ev.start(9, changing);
  assert.ok(started, 'iteration 9 is due');
  flip = true;
  assert.deepEqual(await started.scores, first);
  assert.notDeepEqual(await ev.maybeEvaluate(12, changing), first, 'the changed generator scores differently');
  const rec = evalRecord(3, first);
  assert.deepEqual(Object.keys(rec).slice(0, 8), ['kind', 'iteration', 'mnistScore', 'fdFeatures', 'fdLogits', 'classesCovered', 'klUniform', 'samples']);
  assert.equal(rec.kind, 'eval');
  ev.dispose();
});
