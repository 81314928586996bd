import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RunDirError } from '../../services/run/errors.ts';
import {
  CLUSTER_DIR,
  createRunDir,
  readConfig,
  readRunInfo,
  type RunInfo,
  samplePath,
  timestamp,
  updateRunInfo,
  writeConfig,
  writeRunInfo,
} from '../../services/run/run-dir.ts';
import { tempDir } from './run-fixtures.ts';

const INFO: RunInfo = { kind: 'gan', backend: { name: 'wasm', device: 'cpu' }, startedAt: '2026-12-01T10:00:00.000Z', status: 'running', timings: {} };

test('the default run directory is runs/<kind>-<YYYYmmdd-HHMMSS>, with -2 when taken', async () => {
  const base = await tempDir();
  const now = new Date(2026, 11, 1, 9, 5, 7);
  assert.equal(timestamp(now), '20261201-090507');
  const a = await createRunDir(undefined, 'gan', { baseDir: base, now });
  assert.equal(a.root, path.join(base, 'gan-20261201-090507'));
  assert.deepEqual((await fsp.readdir(a.root)).sort(), ['checkpoints', 'samples']);
  const b = await createRunDir(undefined, 'gan', { baseDir: base, now });
  assert.equal(b.root, path.join(base, 'gan-20261201-090507-2'));
  assert.equal(samplePath(a, 100), path.join(a.root, 'samples', 'iter-000100.png'));
  assert.equal(a.checkpoints, path.join(a.root, 'checkpoints'));
  assert.equal(a.metrics, path.join(a.root, 'metrics.jsonl'));
});

test('a non-empty directory is refused unless resuming; resuming checks the kind', async () => {
  const root = path.join(await tempDir(), 'run');
  const run = await createRunDir(root, 'gan');
  await writeRunInfo(run, INFO);
  await assert.rejects(createRunDir(root, 'gan'), (err: unknown) => {
    assert.ok(err instanceof RunDirError);
    // The still-empty checkpoints/ and samples/ are not what makes it a used run directory.
    assert.match(err.message, /exists and is not empty \(run\.json\); resume it or choose another directory/);
    return true;
  });
  assert.equal((await createRunDir(root, 'gan', { resume: true })).root, root);
  await assert.rejects(createRunDir(root, 'classifier', { resume: true }), /cannot resume a gan run as a classifier run/);
  await assert.rejects(createRunDir(path.join(root, 'nope'), 'gan', { resume: true }), /cannot resume: no such run directory/);
  const empty = path.join(path.dirname(root), 'empty');
  await fsp.mkdir(empty);
  assert.equal((await createRunDir(empty, 'classifier')).kind, 'classifier');
  // The launcher's .cluster and an empty checkpoints/ (a mounted volume) leave a directory fresh.
  const prepared = path.join(path.dirname(root), 'prepared');
  await fsp.mkdir(path.join(prepared, CLUSTER_DIR, 'nats'), { recursive: true });
  await fsp.mkdir(path.join(prepared, 'checkpoints'));
  assert.equal((await createRunDir(prepared, 'gan')).root, prepared);
  await fsp.writeFile(path.join(prepared, 'checkpoints', 'x'), 'x');
  await assert.rejects(createRunDir(prepared, 'gan'), /exists and is not empty \(checkpoints\)/);
});

test('config.json and run.json round trip; updateRunInfo merges timings', async () => {
  const run = await createRunDir(path.join(await tempDir(), 'r'), 'gan');
  await writeConfig(run, { seed: 7, lr: 0.0002 });
  assert.deepEqual(await readConfig(run), { seed: 7, lr: 0.0002 });
  await writeRunInfo(run, { ...INFO, timings: { setupSeconds: 1.5 } });
  const next = await updateRunInfo(run, { status: 'completed', finishedAt: '2026-12-01T11:00:00.000Z', timings: { trainSeconds: 3600 } });
  assert.deepEqual(next.timings, { setupSeconds: 1.5, trainSeconds: 3600 });
  assert.deepEqual(await readRunInfo(run), next);
  await assert.rejects(writeRunInfo(run, { ...INFO, status: 'exploded' as RunInfo['status'] }), /run\.json: invalid run info/);
  await fsp.writeFile(run.runInfo, '{');
  await assert.rejects(readRunInfo(run), /run\.json: not valid JSON/);
});
