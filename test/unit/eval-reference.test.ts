// Finding and loading classifiers from run directories, and the reference-statistics cache.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { tf } from '../../services/core/tf.ts';
import { loadImageSet } from '../../services/data/mnist.ts';
import { findClassifierRun, loadClassifier, loadGenerator } from '../../services/eval/models.ts';
import { loadOrComputeReference, referenceStatsPath, REFERENCE_FILE } from '../../services/eval/reference.ts';
import { NoClassifierError, WrongCheckpointError } from '../../services/eval/errors.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { tempDir, writeClassifierRun, writeGanRun, writeTestSplit } from './eval-fixtures.ts';

let root: string;
let runs: string;
let data: string;
before(async () => {
  await tf.setBackend('cpu');
  root = await tempDir();
  runs = path.join(root, 'runs');
  data = await writeTestSplit(path.join(root, 'data'), 48);
});
after(async () => fsp.rm(root, { recursive: true, force: true }));

test('no runs directory, or no classifier run in it: an error that says how to get one', async () => {
  await assert.rejects(findClassifierRun(path.join(root, 'nowhere')), (err: Error) =>
    err instanceof NoClassifierError && /gantry train classifier/.test(err.message));
  await writeGanRun(runs, 'gan-a');
  await assert.rejects(findClassifierRun(runs), /no trained classifier under .*gantry train classifier/);
});

test('the newest classifier run with a complete checkpoint is chosen', async () => {
  await writeClassifierRun(runs, 'classifier-old', { startedAt: '2026-01-01T00:00:00.000Z', dataDir: data });
  const { runDir: newer } = await writeClassifierRun(runs, 'classifier-new', { startedAt: '2026-03-01T00:00:00.000Z', dataDir: data, seed: 2 });
  // The newest of all has no checkpoint yet (still starting): skipped with a warning.
  await fsp.mkdir(path.join(runs, 'classifier-empty'), { recursive: true });
  await fsp.writeFile(path.join(runs, 'classifier-empty', 'run.json'), JSON.stringify({ kind: 'classifier', startedAt: '2026-05-01T00:00:00.000Z' }));
  const warnings: string[] = [];
  assert.equal(await findClassifierRun(runs, (w) => warnings.push(w)), newer);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /classifier-empty/);
});

test('a GAN checkpoint is not a classifier, and a classifier checkpoint is not a generator', async () => {
  const gan = await writeGanRun(runs, 'gan-b');
  await assert.rejects(loadClassifier(gan.runDir), (err: Error) => err instanceof NoClassifierError && /found generator, discriminator/.test(err.message));
  const cls = await writeClassifierRun(runs, 'classifier-c', { startedAt: '2026-01-02T00:00:00.000Z', dataDir: data });
  await assert.rejects(loadGenerator(cls.runDir), WrongCheckpointError);
  const g = await loadGenerator(gan.checkpointDir);
  assert.deepEqual(g.model.inputShape, [100]);
  g.model.dispose();
});

test('reference statistics are computed once, cached in the run directory, and keyed by the weights', async () => {
  const { runDir, checkpointDir } = await writeClassifierRun(runs, 'classifier-cache', { startedAt: '2026-01-03T00:00:00.000Z', dataDir: data });
  const file = referenceStatsPath(checkpointDir);
  assert.equal(file, path.join(runDir, REFERENCE_FILE));
  const testSet = await loadImageSet({ dir: data, split: 'test' });
  const loaded = await loadClassifier(runDir);
  try {
    const first = await loadOrComputeReference(loaded, testSet, { batchSize: 20 });
    assert.equal(first.cached, false);
    assert.equal(first.real.samples, 48);
    const second = await loadOrComputeReference(loaded, testSet);
    assert.equal(second.cached, true);
    assert.deepEqual(Array.from(second.reference.features.cov), Array.from(first.reference.features.cov));
    assert.deepEqual(Array.from(second.reference.logits.mean), Array.from(first.reference.logits.mean));
    assert.equal(second.real.mnistScore, first.real.mnistScore);
    // Other weights (another sha256): recomputed, not served from the stale cache.
    const stale = await loadOrComputeReference({ ...loaded, sha256: 'f'.repeat(64) }, testSet);
    assert.equal(stale.cached, false);
    // A damaged cache is recomputed with a warning.
    await fsp.writeFile(file, '{"format": "gantry-reference-stats/1", "classifierSha256": "' + loaded.sha256 + '"');
    const lines: string[] = [];
    const log = createLogger({ component: 'test', stream: { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream });
    const again = await loadOrComputeReference(loaded, testSet, { log });
    assert.equal(again.cached, false);
    assert.ok(lines.some((l) => /cache unusable/.test(l)), lines.join(''));
  } finally {
    loaded.model.dispose();
  }
});
