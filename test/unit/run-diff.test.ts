import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../../services/run/checkpoint.ts';
import { compareArrays, diffLoaded, diffReportJson, type DiffReport, formatDiffText } from '../../services/run/diff.ts';
import { ganSnapshots, makeSnapshot, tempDir, writeGan } from './run-fixtures.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function gantry(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/gantry.js'), ...args], { cwd: REPO, env: { ...process.env, GANTRY_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Two run dirs: A, and B equal to A except generator dense1/kernel[1] moved by `delta`. */
async function pair(delta: number): Promise<{ a: string; b: string }> {
  const base = await tempDir();
  const a = await writeGan(path.join(base, 'a', 'checkpoints'), 100);
  const snaps = ganSnapshots();
  snaps[0].tensors[0].data[1] += delta;
  await writeGan(path.join(base, 'b', 'checkpoints'), 100, snaps);
  return { a, b: path.join(base, 'b') };
}

test('compareArrays: max abs, scale-relative max, NaN at the same place equal, other non-finite Infinity', () => {
  assert.deepEqual(compareArrays(Float32Array.of(1, -4, 2), Float32Array.of(1, -4, 2)), { maxAbsDiff: 0, maxRelDiff: 0 });
  const r = compareArrays(Float32Array.of(0.5, -4), Float32Array.of(0.25, -4));
  assert.equal(r.maxAbsDiff, 0.25);
  assert.equal(r.maxRelDiff, 0.25 / 4);
  assert.deepEqual(compareArrays(Float32Array.of(NaN, 1), Float32Array.of(NaN, 1)), { maxAbsDiff: 0, maxRelDiff: 0 });
  assert.equal(compareArrays(Float32Array.of(NaN), Float32Array.of(0)).maxRelDiff, Infinity);
  assert.equal(compareArrays(Float32Array.of(Infinity), Float32Array.of(1)).maxRelDiff, Infinity);
  assert.equal(compareArrays(Float32Array.of(0), Float32Array.of(1e-20)).maxRelDiff, Math.fround(1e-20) / 1e-12, 'the 1e-12 floor keeps all-zero tensors finite');
});

test('diffLoaded reports optimizer slots and steps only with includeOptimizer', async () => {
  const base = await tempDir();
  const a = await readCheckpoint(await writeGan(path.join(base, 'a'), 1));
  const snaps = [makeSnapshot('generator', 1, 8), makeSnapshot('discriminator', 101)];
  snaps[0].optimizer.slots[0].data[0] += 0.5;
  const b = await readCheckpoint(await writeGan(path.join(base, 'b'), 1, snaps));
  assert.equal(diffLoaded(a, b).status, 'equal');
  const r = diffLoaded(a, b, { includeOptimizer: true });
  assert.equal(r.status, 'different');
  assert.deepEqual(r.worst, { role: 'generator', group: 'optimizer', name: 'dense1/kernel/m' });
  assert.deepEqual(r.notes, ['generator optimizer step: 7 in A, 8 in B']);
});

test('formatDiffText marks tensors above tolerance and ends with the verdict; JSON writes Infinity as null', async () => {
  const { a, b } = await pair(1e-3);
  const report = diffLoaded(await readCheckpoint(a), await readCheckpoint(path.join(b, 'checkpoints', 'iter-000100')));
  const text = formatDiffText(report);
  assert.match(text, /^\*\s+generator\s+dense1\/kernel\s+\[4, 3\]\s+1\.000e-3\s+1\.\d{3}e-3$/m);
  assert.match(text, /^\s+generator\s+dense1\/bias\s+\[3\]\s+0\s+0$/m);
  assert.match(text, /overall: max rel diff 1\.\d{3}e-3 \(generator dense1\/kernel\), max abs diff 1\.000e-3, 6 tensors, tolerance 0\.00001: FAIL\n$/);
  report.tensors[0].maxRelDiff = Infinity;
  assert.equal(JSON.parse(diffReportJson(report)).tensors[0].maxRelDiff, null);
});

// Each spawn loads the whole CLI (about 1-2 s here), so the cases run concurrently.
test('CLI exit codes: 0 within tolerance, 1 above it naming the tensor, 2 for bad flags, damaged or mismatched checkpoints', async () => {
  const same = await pair(0);
  const { a, b } = await pair(1e-3);
  const base = await tempDir();
  const damaged = await writeGan(path.join(base, 'damaged'), 100);
  await fsp.rm(path.join(damaged, 'manifest.json'));
  const shaped = ganSnapshots();
  shaped[1].tensors[1] = { name: 'dense1/bias', shape: [1, 3], data: shaped[1].tensors[1].data };
  shaped[1].optimizer.slots = shaped[1].optimizer.slots.filter((s) => !s.name.startsWith('dense1/bias'));
  shaped[0].tensors.pop();
  const mismatched = await writeGan(path.join(base, 'mismatched'), 1, shaped);
  const [identical, above, loose, negative, word, unknown, unloadable, structure] = await Promise.all([
    gantry('checkpoint', 'diff', same.a, same.b),
    gantry('checkpoint', 'diff', a, b, '--json'),
    gantry('checkpoint', 'diff', a, b, '--tolerance', '1e-2'),
    gantry('checkpoint', 'diff', a, a, '--tolerance', '-1'),
    gantry('checkpoint', 'diff', a, a, '--tolerance=abc'),
    gantry('checkpoint', 'diff', a, a, '--tolerence', '1'),
    gantry('checkpoint', 'diff', a, damaged),
    gantry('checkpoint', 'diff', a, mismatched, '--json'),
  ]);

  assert.equal(identical.code, 0, identical.stderr);
  assert.match(identical.stdout, /overall: max rel diff 0 .*6 tensors, tolerance 0\.00001: PASS/);

  assert.equal(above.code, 1, above.stderr);
  assert.match(above.stderr, /exceeds tolerance 0\.00001/);
  assert.match(above.stderr, /generator weights tensor "dense1\/kernel"/);
  const report = JSON.parse(above.stdout) as DiffReport;
  assert.equal(report.status, 'different');
  assert.deepEqual(report.worst, { role: 'generator', group: 'weights', name: 'dense1/kernel' });
  const t = report.tensors.find((x) => x.role === 'generator' && x.name === 'dense1/kernel')!;
  assert.ok(Math.abs(t.maxAbsDiff - 1e-3) < 1e-6, `maxAbsDiff ${t.maxAbsDiff}`);
  assert.ok(t.maxRelDiff > 1e-3 && t.maxRelDiff < 1e-2);
  assert.equal(report.tensors.filter((x) => x.maxAbsDiff > 0).length, 1);

  assert.equal(loose.code, 0, loose.stderr);
  assert.match(loose.stdout, /tolerance 0\.01: PASS/);

  for (const [res, raw] of [[negative, '-1'], [word, 'abc']] as const) {
    assert.equal(res.code, 2, res.stderr);
    assert.ok(res.stderr.includes(`--tolerance: expected a non-negative number such as 1e-5, got "${raw}"`), res.stderr);
  }
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--tolerence'/);

  assert.equal(unloadable.code, 2, unloadable.stderr);
  assert.match(unloadable.stderr, /iter-000100\/manifest\.json: missing/);

  assert.equal(structure.code, 2, structure.stderr);
  assert.match(structure.stderr, /discriminator weights tensor "dense1\/bias": shape \[3\] in A, \[1, 3\] in B/);
  assert.match(structure.stderr, /generator weights tensor "bn1\/moving_mean": in A with shape \[3\], missing in B/);
  const mismatch = JSON.parse(structure.stdout) as DiffReport;
  assert.equal(mismatch.status, 'mismatch');
  assert.equal(mismatch.mismatches.length, 2);
});

test('CLI: list and show summarize a run directory', async () => {
  const base = await tempDir();
  await writeGan(path.join(base, 'checkpoints'), 100);
  await writeGan(path.join(base, 'checkpoints'), 200);
  const [list, show] = await Promise.all([gantry('checkpoint', 'list', base), gantry('checkpoint', 'show', base, '--verify')]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^iteration\s+time\s+models\s+path$/m);
  assert.match(list.stdout, /^100\s+\S+Z\s+generator,discriminator\s+\S+iter-000100$/m);
  assert.match(list.stdout, /^200\s/m);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /iter-000200\n.*kind gan, iteration 200, .*sha256 verified/);
  assert.match(show.stdout, /generator\s+3\s+18\s+adam step 7, 4 slots\s+[0-9a-f]{12}/);
});
