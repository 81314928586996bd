import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { latestCheckpoint, listCheckpoints, NoValidCheckpoint, pruneCheckpoints, resolveCheckpoint, resumePoint } from '../../services/run/checkpoint-list.ts';
import { stagingDirFor } from '../../services/run/checkpoint.ts';
import { CheckpointError } from '../../services/run/errors.ts';
import { tempDir, writeGan } from './run-fixtures.ts';

async function corrupt(file: string): Promise<void> {
  const bytes = await fsp.readFile(file);
  bytes[bytes.length - 1] ^= 0x80;
  await fsp.writeFile(file, bytes);
}

/** A run dir with checkpoints at 100, 200 and 1000000 plus a half-written 300. */
async function runWithCheckpoints(): Promise<{ run: string; root: string }> {
  const run = await tempDir();
  const root = path.join(run, 'checkpoints');
  for (const it of [1_000_000, 100, 200]) await writeGan(root, it);
  await fsp.mkdir(stagingDirFor(root, 300), { recursive: true });
  await fsp.writeFile(path.join(root, 'notes.txt'), 'not a checkpoint');
  return { run, root };
}

test('listCheckpoints sorts numerically and skips half-written and invalid ones with warnings', async () => {
  const { root } = await runWithCheckpoints();
  await fsp.mkdir(path.join(root, 'iter-000150'));
  await fsp.rm(path.join(root, 'iter-000200', 'generator.optim.safetensors'));
  const listing = await listCheckpoints(root);
  assert.deepEqual(listing.checkpoints.map((c) => c.iteration), [100, 1_000_000]);
  assert.equal(listing.warnings.length, 3);
  assert.match(listing.warnings.find((w) => w.includes('iter-000150'))!, /manifest\.json: missing/);
  assert.match(listing.warnings.find((w) => w.includes('iter-000200'))!, /generator\.optim\.safetensors: listed in the manifest but missing/);
  assert.match(listing.warnings.find((w) => w.includes('iter-000300.partial'))!, /half-written/);
  assert.deepEqual(await listCheckpoints(path.join(root, 'nope')), { checkpoints: [], warnings: [] });
});

test('listCheckpoints with verify skips a checkpoint whose file was altered', async () => {
  const { root } = await runWithCheckpoints();
  await corrupt(path.join(root, 'iter-000100', 'discriminator.safetensors'));
  assert.deepEqual((await listCheckpoints(root)).checkpoints.map((c) => c.iteration), [100, 200, 1_000_000]);
  const verified = await listCheckpoints(root, { verify: true });
  assert.deepEqual(verified.checkpoints.map((c) => c.iteration), [200, 1_000_000]);
  assert.ok(verified.warnings.some((w) => /iter-000100.*sha256 mismatch/.test(w)));
});

test('resolveCheckpoint: a run dir or checkpoints dir means its latest good checkpoint', async () => {
  const { run, root } = await runWithCheckpoints();
  const latest = path.join(root, 'iter-1000000');
  assert.equal(await resolveCheckpoint(run), latest);
  assert.equal(await resolveCheckpoint(root), latest);
  assert.equal(await resolveCheckpoint(path.join(root, 'iter-000100')), path.join(root, 'iter-000100'));
  await corrupt(path.join(latest, 'generator.safetensors'));
  const warnings: string[] = [];
  assert.equal(await resolveCheckpoint(run, { onWarning: (w) => warnings.push(w) }), path.join(root, 'iter-000200'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /iter-1000000: skipped: .*generator\.safetensors: sha256 mismatch/);
  assert.equal((await latestCheckpoint(root))?.iteration, 200);
});

test('resolveCheckpoint fails clearly: nothing there, no complete checkpoint, a half-written one named', async () => {
  const run = await tempDir();
  await assert.rejects(resolveCheckpoint(path.join(run, 'missing')), /missing: no such checkpoint or run directory/);
  await fsp.mkdir(path.join(run, 'checkpoints'));
  await assert.rejects(resolveCheckpoint(run), (err: unknown) => {
    assert.ok(err instanceof CheckpointError);
    assert.match(err.message, /no complete checkpoint found in .*checkpoints/);
    return true;
  });
  const root = path.join(run, 'checkpoints');
  await writeGan(root, 5);
  await fsp.rm(path.join(root, 'iter-000005', 'manifest.json'));
  await assert.rejects(resolveCheckpoint(run), /no complete checkpoint found.*skipped 1:\n.*iter-000005/s);
  await assert.rejects(resolveCheckpoint(path.join(root, 'iter-000005')), /manifest\.json: missing/);
  const partial = stagingDirFor(root, 6);
  await fsp.mkdir(partial);
  await assert.rejects(resolveCheckpoint(partial), /half-written checkpoint/);
});

test('pruneCheckpoints keeps the newest good ones, keeps damaged ones, removes stale partials only', async () => {
  const run = await tempDir();
  const root = path.join(run, 'checkpoints');
  for (const it of [1, 2, 3, 4, 5]) await writeGan(root, it);
  await fsp.mkdir(stagingDirFor(root, 2));
  await fsp.mkdir(stagingDirFor(root, 6)); // being written right now: never touched
  await corrupt(path.join(root, 'iter-000005', 'generator.safetensors'));
  await fsp.mkdir(path.join(root, 'iter-000000.deleting')); // a deletion a crash interrupted
  const result = await pruneCheckpoints(root, 2);
  assert.deepEqual((await fsp.readdir(root)).sort(), ['iter-000003', 'iter-000004', 'iter-000005', 'iter-000006.partial']);
  assert.deepEqual(result.removed.map((d) => path.basename(d)).sort(), ['iter-000001', 'iter-000002', 'iter-000002.partial']);
  assert.equal(result.warnings.length, 1);
  assert.match(result.warnings[0], /iter-000005: damaged, kept for inspection/);
  await pruneCheckpoints(root, 1);
  assert.deepEqual((await fsp.readdir(root)).sort(), ['iter-000004', 'iter-000005', 'iter-000006.partial'], 'the newest good one survives');
  await assert.rejects(pruneCheckpoints(root, 0), /keepLast must be an integer >= 1, got 0/);
});

test('resumePoint: none yet or only half-written -> from scratch; all damaged -> refused unless restartFromScratch', async () => {
  const root = path.join(await tempDir(), 'checkpoints');
  assert.equal(await resumePoint(root), undefined, 'no checkpoints directory');
  await fsp.mkdir(stagingDirFor(root, 5), { recursive: true });
  assert.equal(await resumePoint(root), undefined, 'only a half-written one');
  const dirs = [await writeGan(root, 10), await writeGan(root, 20)];
  assert.equal((await resumePoint(root))?.iteration, 20);
  for (const d of dirs) await corrupt(path.join(d, 'generator.safetensors'));
  await assert.rejects(resumePoint(root), (err: unknown) => {
    assert.ok(err instanceof NoValidCheckpoint);
    assert.equal(err.skipped.length, 2);
    for (const d of dirs) assert.ok(err.message.includes(`${d}: skipped: `), `names ${d}`);
    assert.match(err.message, /--restart-from-scratch/);
    return true;
  });
  const warnings: string[] = [];
  assert.equal(await resumePoint(root, { restartFromScratch: true, onWarning: (w) => warnings.push(w) }), undefined);
  assert.equal(warnings.length, 2);
});
