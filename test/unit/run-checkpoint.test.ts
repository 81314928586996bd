import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  commitCheckpoint,
  prepareStagingDir,
  readCheckpoint,
  stagingDirFor,
  verifyCheckpoint,
  writeCheckpoint,
  writeModelFiles,
} from '../../services/run/checkpoint.ts';
import { CheckpointError } from '../../services/run/errors.ts';
import { sha256OfFile } from '../../services/run/manifest.ts';
import { ganSnapshots, makeSnapshot, tempDir, writeGan } from './run-fixtures.ts';

/** Asserts a CheckpointError whose message matches and names `file`. */
async function rejectsNaming(p: Promise<unknown>, file: string, re: RegExp): Promise<CheckpointError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof CheckpointError, `expected CheckpointError, got ${String(caught)}`);
  assert.match(caught.message, re);
  assert.ok(caught.message.includes(file), `"${caught.message}" names ${file}`);
  return caught;
}

test('writeCheckpoint then readCheckpoint gives back every tensor, slot, step, hyper and arch', async () => {
  const root = await tempDir();
  const snaps = ganSnapshots(3);
  const dir = await writeCheckpoint(root, { kind: 'gan', iteration: 100, config: { seed: 3 }, snapshots: snaps, extra: { fixedZSeed: 9 } });
  assert.equal(dir, path.join(root, 'iter-000100'));
  assert.deepEqual((await fsp.readdir(root)).sort(), ['iter-000100']);
  assert.deepEqual((await fsp.readdir(dir)).sort(), [
    'discriminator.optim.safetensors', 'discriminator.safetensors', 'generator.optim.safetensors', 'generator.safetensors', 'manifest.json',
  ]);
  const loaded = await readCheckpoint(dir);
  assert.equal(loaded.manifest.format, 'gantry-checkpoint/1');
  assert.equal(loaded.manifest.iteration, 100);
  assert.deepEqual(loaded.manifest.config, { seed: 3 });
  assert.deepEqual(loaded.manifest.extra, { fixedZSeed: 9 });
  for (const s of snaps) assert.deepEqual(loaded.models.get(s.role), s);
  const g = loaded.manifest.models.find((m) => m.role === 'generator')!;
  assert.equal(g.sha256, await sha256OfFile(path.join(dir, 'generator.safetensors')));
  assert.equal(g.optimizerStep, 7);
});

test('the distributed path: services write into a shared staging dir, the scheduler commits', async () => {
  const root = await tempDir();
  const staging = await prepareStagingDir(root, 250);
  assert.equal(staging, stagingDirFor(root, 250));
  const [g, d] = ganSnapshots(5);
  const entries = await Promise.all([writeModelFiles(staging, g), writeModelFiles(staging, d)]);
  const dir = await commitCheckpoint(staging, { kind: 'gan', iteration: 250, config: {}, models: entries });
  assert.equal(dir, path.join(root, 'iter-000250'));
  await assert.rejects(fsp.stat(staging), /ENOENT/);
  const loaded = await readCheckpoint(dir);
  assert.deepEqual(loaded.models.get('discriminator'), d);
});

test('commit refuses a staging file changed after it was written, and a missing one', async () => {
  const root = await tempDir();
  const staging = await prepareStagingDir(root, 3);
  const entries = [await writeModelFiles(staging, makeSnapshot('classifier', 1))];
  const file = path.join(staging, 'classifier.safetensors');
  const bytes = await fsp.readFile(file);
  bytes[bytes.length - 1] ^= 0xff;
  await fsp.writeFile(file, bytes);
  const err = await rejectsNaming(commitCheckpoint(staging, { kind: 'classifier', iteration: 3, config: {}, models: entries }), file, /sha256 mismatch/);
  assert.equal(err.expected, entries[0].sha256);
  assert.equal(err.found, await sha256OfFile(file));
  await fsp.rm(file);
  await rejectsNaming(commitCheckpoint(staging, { kind: 'classifier', iteration: 3, config: {}, models: entries }), file, /cannot read/);
  assert.deepEqual(await fsp.readdir(root), ['iter-000003.partial'], 'nothing was committed');
});

test('commit validates the manifest: roles of the kind, staging name, iteration', async () => {
  const root = await tempDir();
  const staging = await prepareStagingDir(root, 4);
  const g = await writeModelFiles(staging, makeSnapshot('generator', 1));
  await assert.rejects(commitCheckpoint(staging, { kind: 'gan', iteration: 4, config: {}, models: [g] }), /a gan checkpoint holds roles discriminator, generator; found generator/);
  await assert.rejects(commitCheckpoint(staging, { kind: 'gan', iteration: 5, config: {}, models: [g] }), /expected a staging directory named iter-000005\.partial/);
});

test('writeModelFiles rejects optimizer slots that are not <param>/m|v|ema of a model tensor', async () => {
  const dir = await tempDir();
  const s = makeSnapshot('generator', 1);
  s.optimizer.slots[0] = { ...s.optimizer.slots[0], name: 'nope/m' };
  await assert.rejects(writeModelFiles(dir, s), /slot "nope\/m" is not "<param>\/m", "<param>\/v" or "<param>\/ema"/);
  const t = makeSnapshot('generator', 1);
  t.optimizer.hyper.learningRate = Number.NaN;
  await assert.rejects(writeModelFiles(dir, t), /learningRate = NaN; expected a finite number/);
});

test('a .partial directory is never loaded, even with a manifest inside', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 10);
  const partial = path.join(root, 'iter-000010.partial');
  await fsp.rename(dir, partial); // a crash between writing manifest.json and the final rename
  await rejectsNaming(readCheckpoint(partial), partial, /half-written checkpoint \(\.partial\)/);
  await rejectsNaming(verifyCheckpoint(partial), partial, /half-written/);
});

test('a directory whose manifest is missing is never loaded', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 10);
  await fsp.rm(path.join(dir, 'manifest.json'));
  await rejectsNaming(readCheckpoint(dir), path.join(dir, 'manifest.json'), /missing: the checkpoint was never completed/);
});

test('a manifest that is not JSON or breaks the schema fails naming manifest.json', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 10);
  const mf = path.join(dir, 'manifest.json');
  const good = JSON.parse(await fsp.readFile(mf, 'utf8'));
  await fsp.writeFile(mf, '{"format": "gantry-checkpoint/1", ');
  await rejectsNaming(readCheckpoint(dir), mf, /not valid JSON/);
  await fsp.writeFile(mf, JSON.stringify({ ...good, models: good.models.map((m: { file: string }) => ({ ...m, file: '../../etc/passwd' })) }));
  await rejectsNaming(readCheckpoint(dir), mf, /expected a plain file name/);
  await fsp.writeFile(mf, JSON.stringify({ ...good, iteration: 11 }));
  await assert.rejects(readCheckpoint(dir), /manifest iteration 11 does not match the directory name/);
});

test('a file truncated after the manifest was written fails with file, expected and found hash', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 10);
  const file = path.join(dir, 'discriminator.optim.safetensors');
  const bytes = await fsp.readFile(file);
  await fsp.writeFile(file, bytes.subarray(0, bytes.length - 4));
  const err = await rejectsNaming(readCheckpoint(dir), file, /sha256 mismatch: manifest lists [0-9a-f]{64}, file has [0-9a-f]{64}/);
  const manifest = JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(err.expected, manifest.models.find((m: { role: string }) => m.role === 'discriminator').optimizerSha256);
  assert.equal(err.found, await sha256OfFile(file));
});

test('a file altered in place (same length) after the manifest fails the same way', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 10);
  const file = path.join(dir, 'generator.safetensors');
  const bytes = await fsp.readFile(file);
  bytes[bytes.length - 3] ^= 0x01; // one bit of one float
  await fsp.writeFile(file, bytes);
  await rejectsNaming(readCheckpoint(dir), file, /sha256 mismatch/);
  await rejectsNaming(verifyCheckpoint(dir), file, /sha256 mismatch/);
  await fsp.rm(file);
  await rejectsNaming(readCheckpoint(dir), file, /listed in the manifest but cannot be read/);
});

test('re-committing an iteration refuses to replace a good checkpoint and sets a damaged one aside', async () => {
  const root = await tempDir();
  const dir = await writeGan(root, 20);
  await rejectsNaming(writeGan(root, 20), dir, /already exists; refusing to replace it/);
  assert.deepEqual(await fsp.readdir(root), ['iter-000020'], 'the failed attempt cleaned its staging dir');
  await fsp.rm(path.join(dir, 'generator.safetensors'));
  const again = await writeGan(root, 20, ganSnapshots(9));
  assert.equal(again, dir);
  const names = (await fsp.readdir(root)).sort();
  assert.equal(names.length, 2);
  assert.match(names[1], /^iter-000020\.invalid-\d+$/);
  assert.deepEqual((await readCheckpoint(dir)).models.get('generator'), ganSnapshots(9)[0]);
});

test('prepareStagingDir clears a stale staging dir from a crashed attempt', async () => {
  const root = await tempDir();
  const stale = stagingDirFor(root, 30);
  await fsp.mkdir(stale, { recursive: true });
  await fsp.writeFile(path.join(stale, 'generator.safetensors'), 'junk');
  await prepareStagingDir(root, 30);
  assert.deepEqual(await fsp.readdir(stale), []);
});
