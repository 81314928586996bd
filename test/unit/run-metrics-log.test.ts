import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { RunDirError } from '../../services/run/errors.ts';
import { MetricsLog, readMetrics } from '../../services/run/metrics-log.ts';
import { tempDir } from './run-fixtures.ts';

test('append writes one JSON line per record with ts, readable back; reopening appends', async () => {
  const file = path.join(await tempDir(), 'run', 'metrics.jsonl');
  const log = await MetricsLog.open(file);
  log.append({ kind: 'train', iteration: 1, lossD: 0.69, lossG: 0.7 });
  log.append({ kind: 'eval', iteration: 1, mnistScore: 8.5 });
  log.close();
  const again = await MetricsLog.open(file);
  again.append({ kind: 'checkpoint', iteration: 2, path: 'checkpoints/iter-000002', seconds: 0.1 });
  again.close();
  const text = await fsp.readFile(file, 'utf8');
  assert.equal(text.split('\n').length, 4, 'three lines and a final newline');
  const records = await readMetrics(file);
  assert.deepEqual(records.map((r) => r.kind), ['train', 'eval', 'checkpoint']);
  assert.equal(records[0].lossD, 0.69);
  assert.ok(!Number.isNaN(Date.parse(records[0].ts as string)), 'ts is an ISO date');
  assert.throws(() => again.append({ kind: 'x' }), RunDirError);
});

test('NaN and Infinity are written as null and logging goes on', async () => {
  const file = path.join(await tempDir(), 'metrics.jsonl');
  const log = await MetricsLog.open(file);
  log.append({ kind: 'train', iteration: 5, lossD: NaN, lossG: Infinity, nested: { gp: -Infinity } });
  log.append({ kind: 'train', iteration: 6, lossD: 1 });
  log.close();
  const lines = (await fsp.readFile(file, 'utf8')).trim().split('\n');
  for (const line of lines) JSON.parse(line);
  const records = await readMetrics(file);
  assert.equal(records[0].lossD, null);
  assert.equal(records[0].lossG, null);
  assert.deepEqual(records[0].nested, { gp: null });
  assert.equal(records[1].iteration, 6);
});

test('readMetrics drops a cut-off last line but fails on a bad line in the middle', async () => {
  const file = path.join(await tempDir(), 'metrics.jsonl');
  await fsp.writeFile(file, '{"kind":"train","iteration":1}\n{"kind":"train","iteration":2}\n{"kind":"tra');
  assert.deepEqual((await readMetrics(file)).map((r) => r.iteration), [1, 2]);
  await fsp.writeFile(file, '{"kind":"train","iteration":1}\n{"kind":\n{"kind":"train","iteration":3}\n');
  await assert.rejects(readMetrics(file), /metrics\.jsonl: line 2 is not JSON/);
  await assert.rejects(readMetrics(path.join(path.dirname(file), 'none.jsonl')), /none\.jsonl: cannot read metrics log/);
});
