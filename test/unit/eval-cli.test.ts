// The real `gantry eval` and `gantry report` entry points in child processes, in a temp directory
// that holds runs/ (so the default classifier lookup under ./runs is exercised).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { dump } from 'npyjs';
import { tf } from '../../services/core/tf.ts';
import { tempDir, writeClassifierRun, writeGanRun, writeTestSplit } from './eval-fixtures.ts';

const run = promisify(execFile);
const GANTRY = path.join(import.meta.dirname, '..', '..', 'bin', 'gantry.js');
let cwd: string;

before(async () => {
  await tf.setBackend('cpu');
  cwd = await tempDir('gantry-eval-cli-');
});
after(async () => fsp.rm(cwd, { recursive: true, force: true }));

async function gantry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GANTRY, ...args], { cwd, env: { ...process.env, GANTRY_DEBUG: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('gantry eval: no classifier yet -> exit 2 telling the user to train one; bad flags name the flag', async () => {
  const gan = await writeGanRun(path.join(cwd, 'runs'), 'gan-1', 20);
  const none = await gantry('eval', '--checkpoint', gan.runDir, '--backend', 'cpu', '--samples', '20');
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /gantry train classifier/);
  const bad = await gantry('eval', '--checkpoint', gan.runDir, '--samples', 'many');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--samples expects an integer/);
  const missing = await gantry('eval', '--checkpoint', path.join(cwd, 'nowhere'), '--backend', 'cpu');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--checkpoint .*nowhere/);
  const weights = await gantry('eval', '--checkpoint', gan.runDir, '--weights', 'best');
  assert.notEqual(weights.code, 0);
  assert.match(weights.stderr, /--weights.*Allowed choices are average, raw/);
});

test('gantry eval --json: generator and real rows; the table prints both; then gantry report', async () => {
  const data = await writeTestSplit(path.join(cwd, 'data'), 40);
  await writeClassifierRun(path.join(cwd, 'runs'), 'classifier-1', { startedAt: '2026-02-01T00:00:00.000Z', dataDir: data });
  const gan = path.join(cwd, 'runs', 'gan-1');
  const args = ['eval', '--checkpoint', gan, '--backend', 'cpu', '--samples', '30', '--batch-size', '16'];
  const json = await gantry(...args, '--json');
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as Record<string, any>;
  assert.equal(out.iteration, 20);
  assert.equal(out.seed, 3, "the GAN run's seed by default");
  assert.equal(out.weights, 'raw', 'a run without --g-ema has no average to load');
  assert.equal(out.generator.samples, 30);
  assert.equal(out.real.samples, 40);
  assert.ok(Number.isFinite(out.generator.fdFeatures) && Number.isFinite(out.generator.fdLogits));
  assert.ok(out.generator.mnistScore >= 1 && out.generator.mnistScore <= 10);
  assert.equal(out.referenceStats, path.join(cwd, 'runs', 'classifier-1', 'reference-stats.json'));

  const table = await gantry(...args);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /MNIST score/);
  assert.match(table.stdout, /generator \(iteration 20\)\s+30\s/);
  assert.match(table.stdout, /real test images\s+40\s/);

  const report = await gantry('report', path.join(cwd, 'runs', 'classifier-1'));
  assert.equal(report.code, 0, report.stderr);
  assert.equal(report.stdout.trim(), path.join(cwd, 'runs', 'classifier-1', 'report.html'));
});

test('gantry eval --truncation T: samples truncated latents and says so; a threshold out of bounds is refused', async () => {
  // Runs after the --json test, which wrote runs/classifier-1.
  const gan = path.join(cwd, 'runs', 'gan-1');
  const args = ['eval', '--checkpoint', gan, '--backend', 'cpu', '--samples', '30', '--batch-size', '16', '--json'];
  const [plain, cut] = [await gantry(...args), await gantry(...args, '--truncation', '0.5')];
  assert.equal(cut.code, 0, cut.stderr);
  const [a, b] = [JSON.parse(plain.stdout), JSON.parse(cut.stdout)] as Record<string, any>[];
  assert.equal(a.truncation, 0, 'the run did not truncate: none by default');
  assert.equal(b.truncation, 0.5);
  assert.notEqual(b.generator.fdFeatures, a.generator.fdFeatures, 'other latents, other images');
  assert.deepEqual(b.real, a.real);
  const table = await gantry(...args.slice(0, -1), '--truncation', '0.5');
  assert.match(table.stdout, /generator \(iteration 20, z truncated to ±0\.5\)/);
  const bad = await gantry(...args, '--truncation', '0.1');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--truncation expects 0 \(no truncation\) or a threshold in 0\.25\.\.5 standard deviations, got "0\.1"/);
  // A run whose manifest holds a threshold out of bounds (hand-edited) is refused at load, by field.
  const edited = await writeGanRun(path.join(cwd, 'runs'), 'gan-edited', 20, 3, { truncation: 99 });
  const refused = await gantry('eval', '--checkpoint', edited.runDir, '--backend', 'cpu', '--samples', '30');
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /config\.truncation must be 0 \(no truncation\) or a threshold in 0\.25\.\.5 standard deviations, found 99/);
});

test('gantry eval --components: a mixture run scores each component (its majority digit and share); an N(0, I) run is refused', async () => {
  // Runs after the --json test, which wrote runs/classifier-1.
  const mixed = await writeGanRun(path.join(cwd, 'runs'), 'gan-mixture', 20, 3, {}, { zMixture: 3, zSpread: 2 });
  const args = ['eval', '--checkpoint', mixed.runDir, '--backend', 'cpu', '--samples', '31', '--batch-size', '4'];
  const json = await gantry(...args, '--components', '--json');
  assert.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as { components: { component: number; samples: number; histogram: number[]; digit: number; share: number; meanEntropy: number }[] };
  assert.deepEqual(out.components.map((c) => c.component), [0, 1, 2]);
  for (const c of out.components) {
    assert.equal(c.samples, 10, 'floor(31 / 3) samples per component');
    assert.equal(c.histogram.reduce((a, b) => a + b, 0), 10);
    assert.equal(c.histogram[c.digit], Math.max(...c.histogram));
    assert.equal(c.share, c.histogram[c.digit] / 10);
    assert.ok(c.meanEntropy >= 0 && c.meanEntropy <= Math.log(10) + 1e-9, `entropy ${c.meanEntropy} in [0, ln 10]`);
  }
  const table = await gantry(...args, '--components');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /mixture components \(10 samples each; [1-3] distinct majority digits of 3\):\n  component  0: digit \d +\d+ %/);
  const plain = await gantry('eval', '--checkpoint', path.join(cwd, 'runs', 'gan-1'), '--backend', 'cpu', '--samples', '30', '--components');
  assert.equal(plain.code, 2, plain.stderr);
  assert.match(plain.stderr, /--components: .* was trained with z ~ N\(0, I\); it has no mixture components \(gantry train gan --z-mixture K\)/);
});

test('gantry sample: a PNG grid from the run; --truncation draws other images and says so; a bad threshold is refused', async () => {
  // Runs after the --json test, which wrote runs/gan-1.
  const gan = path.join(cwd, 'runs', 'gan-1');
  const [plainPng, cutPng] = [path.join(cwd, 'plain.png'), path.join(cwd, 'cut.png')];
  const plain = await gantry('sample', '--checkpoint', gan, '--out', plainPng, '--n', '4', '--cols', '2', '--backend', 'cpu');
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /4 samples from .*\(iteration 20\) -> /);
  const cut = await gantry('sample', '--checkpoint', gan, '--out', cutPng, '--n', '4', '--cols', '2', '--backend', 'cpu', '--truncation', '0.5');
  assert.equal(cut.code, 0, cut.stderr);
  assert.match(cut.stdout, /\(iteration 20, z truncated to ±0\.5\)/);
  const [a, b] = [await fsp.readFile(plainPng), await fsp.readFile(cutPng)];
  assert.deepEqual([...a.subarray(1, 4)], [...Buffer.from('PNG')]);
  assert.notDeepEqual(a, b, 'other latents, other images');
  const bad = await gantry('sample', '--checkpoint', gan, '--out', cutPng, '--truncation', '0.1');
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--truncation must be 0 \(no truncation\) or a threshold in 0\.25\.\.5 standard deviations, got 0\.1/);
});

test('gantry eval --images: an .npy of the real test images scores exactly as the real row; bad arrays are named', async () => {
  // Runs after the --json test, which wrote runs/classifier-1 and its 40-image test split.
  const idx = await fsp.readFile(path.join(cwd, 'data', 't10k-images-idx3-ubyte'));
  const pixels = new Uint8Array(idx.subarray(16));
  assert.equal(pixels.length, 40 * 784);
  const write = async (name: string, data: Uint8Array | Float32Array, shape: number[]): Promise<string> => {
    const file = path.join(cwd, name);
    await fsp.writeFile(file, new Uint8Array(dump(data, shape)));
    return file;
  };
  const asBytes = await write('real-u8.npy', pixels, [40, 28, 28]);
  const asFloats = await write('real-f32.npy', Float32Array.from(pixels, (v) => v / 127.5 - 1), [40, 784]);
  for (const file of [asBytes, asFloats]) {
    const r = await gantry('eval', '--images', file, '--backend', 'cpu', '--batch-size', '16', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, any>;
    assert.equal(out.generator.samples, 40);
    assert.equal(out.generator.mnistScore, out.real.mnistScore, `${path.basename(file)}: same images, same score`);
    assert.deepEqual(out.generator.histogram, out.real.histogram);
    assert.ok(Math.abs(out.generator.fdFeatures) < 1e-3, `FD of the reference set to itself: ${out.generator.fdFeatures}`);
  }
  const table = await gantry('eval', '--images', asBytes, '--backend', 'cpu');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /images real-u8\.npy\s+40\s/);

  const shape = await gantry('eval', '--images', await write('bad-shape.npy', new Float32Array(3 * 27 * 28), [3, 27, 28]), '--backend', 'cpu');
  assert.equal(shape.code, 1);
  assert.match(shape.stderr, /bad-shape\.npy: shape \(3, 27, 28\): expected \(N, 28, 28\), \(N, 28, 28, 1\) or \(N, 784\)/);
  const range = new Float32Array(2 * 784);
  range[784 + 5] = 1.5;
  const value = await gantry('eval', '--images', await write('bad-range.npy', range, [2, 28, 28, 1]), '--backend', 'cpu');
  assert.equal(value.code, 1);
  assert.match(value.stderr, /image 1, pixel 5 is 1\.5: expected a value in \[-1, 1\]/);
  const junk = path.join(cwd, 'junk.npy');
  await fsp.writeFile(junk, 'not numpy');
  assert.match((await gantry('eval', '--images', junk, '--backend', 'cpu')).stderr, /junk\.npy: not a readable \.npy file/);
  const both = await gantry('eval', '--images', asBytes, '--checkpoint', path.join(cwd, 'runs', 'gan-1'));
  assert.equal(both.code, 2);
  assert.match(both.stderr, /exactly one of --checkpoint DIR .* and --images FILE\.npy/);
  assert.equal((await gantry('eval')).code, 2);
});
