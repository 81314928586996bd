// A run killed after its last checkpoint computes the iterations past it again when resumed, and
// metrics.jsonl (append-only) then holds them twice. The resume is marked in the log, and the
// readers (report, CLI) see one history: the records of a straight run, in order. The kill is
// reproduced on disk exactly: a run that stopped with a final checkpoint, that checkpoint removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { ganTrainSchema, classifierTrainSchema, parseConfig } from '../../services/train/config.ts';
import { trainGanInProcess } from '../../services/train/gan-trainer.ts';
import { trainClassifier } from '../../services/train/classifier-trainer.ts';
import { readMetrics, type MetricsRecord } from '../../services/run/metrics-log.ts';
import { collectRunData } from '../../services/report/collect.ts';
import { createLogger } from '../../services/telemetry/log.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const tmp = () => mkdtemp(path.join(os.tmpdir(), 'gantry-lineage-'));
const of = (records: MetricsRecord[], kind: string) => records.filter((r) => r.kind === kind);
/** The fields a deterministic replay reproduces (timings, timestamps and paths differ). */
const values = (records: MetricsRecord[], keys: string[]) => records.map((r) => keys.map((k) => r[k]));

test('GAN in process: the report reads one history after a resume that recomputed iterations', async () => {
  const cfg = (out: string, over: Record<string, unknown> = {}) => parseConfig(ganTrainSchema, {
    preset: 'mlp', zDim: 8, gWidth: 16, dWidth: 16, batchSize: 8, iterations: 7, sampleEvery: 1,
    checkpointEvery: 2, backend: 'cpu', out, ...over,
  }, 'test');
  const [a, b] = [await tmp(), await tmp()];
  await trainGanInProcess(cfg(a), quiet);
  const cut = await trainGanInProcess(cfg(b, { iterations: 5 }), quiet);
  assert.match(cut.lastCheckpoint!, /000005$/);
  await rm(cut.lastCheckpoint!, { recursive: true }); // as if killed after iteration 5's records
  await trainGanInProcess(cfg(b, { resume: true }), quiet);

  const raw = await readMetrics(path.join(b, 'metrics.jsonl'));
  assert.deepEqual(of(raw, 'train').map((r) => r.iteration), [1, 2, 3, 4, 5, 5, 6, 7], 'iteration 5 was computed twice');
  assert.deepEqual(of(raw, 'resume').map((r) => [r.iteration, path.basename(String(r.checkpoint))]), [[4, 'iter-000004']]);

  const straight = (await collectRunData(a)).metrics;
  const shown = (await collectRunData(b)).metrics;
  const keys = ['iteration', 'lossD', 'lossG', 'dReal', 'dFake'];
  assert.deepEqual(values(of(shown, 'train'), keys), values(of(straight, 'train'), keys));
  assert.deepEqual(of(shown, 'sample').map((r) => r.iteration), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(of(shown, 'checkpoint').map((r) => r.iteration), [2, 4, 6, 7], 'the removed checkpoint 5 is not shown');
});

test('classifier in process: validation and train records of the recomputed steps are shown once', async () => {
  const cfg = (out: string, over: Record<string, unknown> = {}) => parseConfig(classifierTrainSchema, {
    preset: 'quick', width: 8, denseUnits: 32, batchSize: 32, maxSteps: 24, evalEvery: 4, checkpointEvery: 8,
    validationSize: 300, backend: 'wasm', out, ...over,
  }, 'test');
  const [a, b] = [await tmp(), await tmp()];
  const straight = await trainClassifier(cfg(a), quiet);
  const stop = new AbortController();
  const watcher = createLogger({ component: 'test', stream: new Writable({ write: (chunk, _e, cb) => {
    if (String(chunk).includes('"msg":"validation"') && String(chunk).includes('"step":12')) stop.abort();
    cb();
  } }) });
  const cut = await trainClassifier(cfg(b), watcher, { signal: stop.signal });
  assert.equal(cut.steps, 12);
  await rm(cut.lastCheckpoint!, { recursive: true }); // the latest left is step 8
  const resumed = await trainClassifier(cfg(b, { resume: true }), quiet);
  assert.equal(resumed.testAccuracy, straight.testAccuracy);

  const raw = await readMetrics(path.join(b, 'metrics.jsonl'));
  assert.equal(of(raw, 'train').length, 24 + 4, 'steps 9..12 were computed twice');
  assert.deepEqual(of(raw, 'resume').map((r) => r.step), [8]);
  const shown = (await collectRunData(b)).metrics;
  const ref = (await collectRunData(a)).metrics;
  assert.deepEqual(values(of(shown, 'train'), ['step', 'loss', 'accuracy', 'lr']), values(of(ref, 'train'), ['step', 'loss', 'accuracy', 'lr']));
  assert.deepEqual(values(of(shown, 'validation'), ['step', 'loss']), values(of(ref, 'validation'), ['step', 'loss']));
  // The stopped run's test record (step 12) is past the resume point too: only the final one is shown.
  assert.deepEqual(of(shown, 'test').map((r) => r.step), [24]);
});
