// The in-process trainers end to end on real files: run directory contents, bit-for-bit resume,
// the classifier's validation/test records, and the CLI's validation of flags and config keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { ganTrainSchema, classifierTrainSchema, parseConfig } from '../../services/train/config.ts';
import { trainGanInProcess } from '../../services/train/gan-trainer.ts';
import { trainClassifier } from '../../services/train/classifier-trainer.ts';
import { readCheckpoint } from '../../services/run/checkpoint.ts';
import { loadGenerator } from '../../services/eval/models.ts';
import { createLogger } from '../../services/telemetry/log.ts';

const run = promisify(execFile);
const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const tmp = () => mkdtemp(path.join(os.tmpdir(), 'gantry-train-'));

const ganCfg = (out: string, over: Record<string, unknown> = {}) => parseConfig(ganTrainSchema, {
  preset: 'mlp', zDim: 8, gWidth: 16, dWidth: 16, batchSize: 8, iterations: 6, sampleEvery: 3,
  checkpointEvery: 3, backend: 'cpu', out, ...over,
}, 'test');

test('GAN: a run stopped at iteration 3 and resumed ends bit for bit where a straight run ends', async () => {
  const [a, b] = [await tmp(), await tmp()];
  const straight = await trainGanInProcess(ganCfg(a), quiet);
  assert.equal(straight.status, 'completed');
  await trainGanInProcess(ganCfg(b, { iterations: 3 }), quiet);
  const resumed = await trainGanInProcess(ganCfg(b, { resume: true }), quiet);
  assert.equal(resumed.iterations, 6);
  const [ca, cb] = [await readCheckpoint(straight.lastCheckpoint!), await readCheckpoint(resumed.lastCheckpoint!)];
  for (const role of ['generator', 'discriminator'] as const) {
    const [sa, sb] = [ca.models.get(role)!, cb.models.get(role)!];
    assert.deepEqual(sb.tensors.map((t) => Array.from(t.data)), sa.tensors.map((t) => Array.from(t.data)), role);
    assert.deepEqual(sb.optimizer.slots.map((t) => Array.from(t.data)), sa.optimizer.slots.map((t) => Array.from(t.data)));
    assert.equal(sb.optimizer.step, 6);
  }
  // The run directory holds what the README promises.
  assert.deepEqual((await readdir(path.join(a, 'samples'))).sort(), ['iter-000003.png', 'iter-000006.png']);
  const records = (await readFile(path.join(a, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const train = records.filter((r) => r.kind === 'train');
  assert.deepEqual(train.map((r) => r.iteration), [1, 2, 3, 4, 5, 6]);
  assert.ok(train.every((r) => Number.isFinite(r.lossD) && Number.isFinite(r.lossG) && r.dReal >= 0 && r.dReal <= 1));
  const config = JSON.parse(await readFile(path.join(a, 'config.json'), 'utf8'));
  assert.equal(config.preset, 'mlp');
  assert.equal(JSON.parse(await readFile(path.join(a, 'run.json'), 'utf8')).status, 'completed');
});

test('GAN with a time budget (an AbortSignal): stops after the iteration that crosses it, with a final checkpoint, and resumes', async () => {
  const dir = await tmp();
  const warnings: string[] = [];
  const log = createLogger({ component: 'test', format: 'json', stream: new Writable({ write: (c, _e, cb) => { warnings.push(String(c)); cb(); } }) });
  const r = await trainGanInProcess(ganCfg(dir, { iterations: 1_000_000, checkpointEvery: 1_000_000 }), log, { signal: AbortSignal.timeout(1_500) });
  assert.equal(r.status, 'stopped');
  assert.ok(r.iterations > 0 && r.iterations < 1_000_000, `stopped at ${r.iterations}`);
  assert.equal(path.basename(r.lastCheckpoint!), `iter-${String(r.iterations).padStart(6, '0')}`);
  assert.ok(warnings.some((l) => l.includes('time limit reached: stopping after this iteration')), 'the log says why it stopped');
  assert.equal(JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8')).status, 'stopped');
  const resumed = await trainGanInProcess(ganCfg(dir, { iterations: r.iterations + 2, checkpointEvery: 1_000_000, resume: true }), quiet);
  assert.equal(resumed.status, 'completed');
  assert.equal(resumed.iterations, r.iterations + 2);
});

test('GAN with standing statistics and truncation: loadGenerator re-estimates them with the run\'s batch size and seed (0 keeps the checkpoint\'s) and reports the truncation', async () => {
  const dir = await tmp();
  const cfg = ganCfg(dir, { preset: 'dcgan', gWidth: 4, dWidth: 4, iterations: 3, gEma: 0.9, standingStats: 2, truncation: 0.5 });
  const r = await trainGanInProcess(cfg, quiet);
  const written = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
  assert.equal(written.standingStats, 2);
  assert.equal(written.truncation, 0.5);
  const stored = (await readCheckpoint(r.lastCheckpoint!)).models.get('generator')!.tensors.filter((t) => t.name.includes('moving'));
  const standing = await loadGenerator(r.lastCheckpoint!);
  const asStored = await loadGenerator(r.lastCheckpoint!, 'average', 0);
  try {
    assert.equal(standing.standingStats, 2);
    assert.equal(asStored.standingStats, 0);
    assert.equal(standing.truncation, 0.5);
    assert.deepEqual(asStored.model.state.map((s) => Array.from(s.variable.dataSync())), stored.map((t) => Array.from(t.data)));
    assert.notDeepEqual(standing.model.state.map((s) => Array.from(s.variable.dataSync())), stored.map((t) => Array.from(t.data)));
  } finally {
    standing.model.dispose();
    asStored.model.dispose();
  }
  // Changing them does not stop a resume: they are how samples are drawn, not what is trained.
  const resumed = await trainGanInProcess(ganCfg(dir, { preset: 'dcgan', gWidth: 4, dWidth: 4, iterations: 4, gEma: 0.9, standingStats: 5, truncation: 0, resume: true }), quiet);
  assert.equal(resumed.iterations, 4);
});

test("GAN with a moving average of G's weights: resume is bit for bit, grids and loadGenerator use the average", async () => {
  const [a, b] = [await tmp(), await tmp()];
  const straight = await trainGanInProcess(ganCfg(a, { gEma: 0.9 }), quiet);
  await trainGanInProcess(ganCfg(b, { gEma: 0.9, iterations: 3 }), quiet);
  const resumed = await trainGanInProcess(ganCfg(b, { gEma: 0.9, resume: true }), quiet);
  const [ca, cb] = [await readCheckpoint(straight.lastCheckpoint!), await readCheckpoint(resumed.lastCheckpoint!)];
  const [ga, gb] = [ca.models.get('generator')!, cb.models.get('generator')!];
  assert.deepEqual(gb.optimizer.slots.map((t) => [t.name, Array.from(t.data)]), ga.optimizer.slots.map((t) => [t.name, Array.from(t.data)]));
  assert.deepEqual(gb.tensors.map((t) => Array.from(t.data)), ga.tensors.map((t) => Array.from(t.data)));
  const averages = ga.optimizer.slots.filter((s) => s.name.endsWith('/ema'));
  const params = ga.tensors.filter((t) => !t.name.includes('moving'));
  assert.deepEqual(averages.map((s) => s.name), params.map((t) => `${t.name}/ema`));
  assert.ok(averages.some((s, i) => s.data.some((v, j) => v !== params[i].data[j])), 'the average differs from the weights');
  assert.equal(ca.models.get('discriminator')!.optimizer.slots.some((s) => s.name.endsWith('/ema')), false, 'D keeps no average');
  // loadGenerator gives the average by default, the raw weights on request.
  const avg = await loadGenerator(straight.lastCheckpoint!);
  const raw = await loadGenerator(straight.lastCheckpoint!, 'raw');
  try {
    assert.equal(avg.averaged, true);
    assert.equal(raw.averaged, false);
    assert.deepEqual(avg.model.params.map((p) => Array.from(p.variable.dataSync())), averages.map((s) => Array.from(s.data)));
    assert.deepEqual(raw.model.params.map((p) => Array.from(p.variable.dataSync())), params.map((t) => Array.from(t.data)));
  } finally {
    avg.model.dispose();
    raw.model.dispose();
  }
  // A run without the average cannot be resumed with one (the slots are missing), and says why.
  const c = await tmp();
  await trainGanInProcess(ganCfg(c, { iterations: 3 }), quiet);
  await assert.rejects(trainGanInProcess(ganCfg(c, { gEma: 0.9, resume: true }), quiet), /configuration differs|moving average/);
});

test('GAN: resuming with a different architecture is refused', async () => {
  const dir = await tmp();
  await trainGanInProcess(ganCfg(dir, { iterations: 3 }), quiet);
  await assert.rejects(trainGanInProcess(ganCfg(dir, { resume: true, gWidth: 32 }), quiet), /configuration differs/);
});

test('GAN: a dcgan with three-layer G and D trains, checkpoints its arch and resumes only as itself', async () => {
  const dir = await tmp();
  const cfg = { preset: 'dcgan', zDim: 8, gWidth: 4, dWidth: 4, dLayers: 3, gLayers: 3, iterations: 2, sampleEvery: 2, checkpointEvery: 2 };
  const r = await trainGanInProcess(ganCfg(dir, cfg), quiet);
  assert.equal(r.status, 'completed');
  const d = (await readCheckpoint(r.lastCheckpoint!)).models.get('discriminator')!;
  assert.equal(d.arch.dLayers, 3);
  assert.deepEqual(d.tensors.filter((t) => t.name.startsWith('conv2b/')).map((t) => t.name), ['conv2b/kernel', 'conv2b/bias']);
  const g = (await readCheckpoint(r.lastCheckpoint!)).models.get('generator')!;
  assert.equal(g.arch.gLayers, 3);
  assert.ok(g.tensors.some((t) => t.name === 'conv2b/kernel'), "G's 7x7 conv is in the checkpoint");
  await assert.rejects(trainGanInProcess(ganCfg(dir, { ...cfg, iterations: 4, dLayers: 2, resume: true }), quiet), /configuration differs/);
  const resumed = await trainGanInProcess(ganCfg(dir, { ...cfg, iterations: 4, resume: true }), quiet);
  assert.equal(resumed.status, 'completed');
});

test('classifier: validation and test records, early stopping bookkeeping, a loadable checkpoint', async () => {
  const out = await tmp();
  const cfg = parseConfig(classifierTrainSchema, {
    preset: 'quick', width: 8, denseUnits: 32, batchSize: 32, maxSteps: 60, evalEvery: 30,
    validationSize: 500, backend: 'wasm', out,
  }, 'test');
  const r = await trainClassifier(cfg, quiet);
  assert.equal(r.steps, 60);
  assert.ok(r.testAccuracy > 0.3, `a tiny classifier beats chance after 60 steps: ${r.testAccuracy}`);
  const records = (await readFile(path.join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.filter((x) => x.kind === 'validation').map((x) => x.step), [30, 60]);
  const testRec = records.find((x) => x.kind === 'test');
  assert.equal(testRec.accuracy, r.testAccuracy);
  const ckpt = await readCheckpoint(r.lastCheckpoint!);
  assert.equal(ckpt.manifest.kind, 'classifier');
  assert.ok(ckpt.models.get('classifier'));
});

test('classifier: a run stopped after its best validation and resumed ends bit for bit as a straight run', async () => {
  // A high learning rate makes the validation loss noisy, so the best weights of an interrupted
  // run are older than its last checkpoint: the case that needs checkpoints/best/.
  const cfg = (out: string, over: Record<string, unknown> = {}) => parseConfig(classifierTrainSchema, {
    preset: 'quick', width: 8, denseUnits: 32, batchSize: 32, maxSteps: 80, evalEvery: 10, checkpointEvery: 10,
    patience: 3, lr: 0.02, validationSize: 300, backend: 'wasm', out, ...over,
  }, 'test');
  const [a, b] = [await tmp(), await tmp()];
  const straight = await trainClassifier(cfg(a), quiet);
  const records = (await readFile(path.join(a, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const validations = records.filter((x) => x.kind === 'validation') as { step: number; loss: number }[];
  // The first validation step after which the best so far is older than the step itself.
  let best = validations[0];
  const stopAt = validations.find((v) => {
    if (v.loss < best.loss) best = v;
    return best.step < v.step && v.step < straight.steps;
  })?.step;
  assert.ok(stopAt !== undefined, `the setting must give a best older than a checkpoint: ${JSON.stringify(validations)}`);
  // Interrupt run b right after the validation at stopAt, as Ctrl-C would.
  const stop = new AbortController();
  const watcher = createLogger({ component: 'test', stream: new Writable({ write: (chunk, _e, cb) => {
    for (const line of String(chunk).split('\n').filter((l) => l.startsWith('{'))) {
      const rec = JSON.parse(line) as { msg?: string; step?: number };
      if (rec.msg === 'validation' && rec.step === stopAt) stop.abort();
    }
    cb();
  } }) });
  const interrupted = await trainClassifier(cfg(b), watcher, { signal: stop.signal });
  assert.equal(interrupted.steps, stopAt, 'the run stopped at the validation step');
  assert.ok((await readdir(path.join(b, 'checkpoints', 'best'))).length === 1, 'the older best weights were kept aside');
  const resumed = await trainClassifier(cfg(b, { resume: true }), quiet);
  assert.equal(resumed.steps, straight.steps);
  assert.equal(resumed.stoppedEarly, straight.stoppedEarly);
  assert.equal(resumed.testAccuracy, straight.testAccuracy);
  assert.equal(resumed.bestValidationLoss, straight.bestValidationLoss);
  const [ca, cb] = [await readCheckpoint(straight.lastCheckpoint!), await readCheckpoint(resumed.lastCheckpoint!)];
  const [sa, sb] = [ca.models.get('classifier')!, cb.models.get('classifier')!];
  assert.deepEqual(sb.tensors.map((t) => Array.from(t.data)), sa.tensors.map((t) => Array.from(t.data)));
});

const cli = (args: string[]) => run(process.execPath, ['bin/gantry.js', ...args], { cwd: process.cwd() }).then(
  (r) => ({ code: 0, ...r }),
  (e: { code: number; stdout: string; stderr: string }) => e,
);

test('CLI: a smoke run of the real entry point writes a run directory', async () => {
  const out = await tmp();
  const r = await cli(['train', 'gan', '--in-process', '--preset', 'mlp', '--iterations', '2', '--batch-size', '4',
    '--g-width', '8', '--d-width', '8', '--backend', 'cpu', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /completed: 2 iterations/);
  assert.ok((await readdir(path.join(out, 'checkpoints'))).includes('iter-000002'));
});

test('CLI: Ctrl-C stops an in-process GAN run at once, not at its next sample grid, after a final checkpoint', async () => {
  const out = await tmp();
  // Nothing is written between iterations (sample grids and checkpoints every 10^6), so only the
  // trainer's own yield to the event loop lets the SIGINT handler run.
  const child = spawn(process.execPath, ['bin/gantry.js', 'train', 'gan', '--in-process', '--preset', 'mlp', '--z-dim', '8',
    '--g-width', '8', '--d-width', '8', '--batch-size', '4', '--iterations', '1000000', '--sample-every', '1000000',
    '--checkpoint-every', '1000000', '--backend', 'cpu', '--out', out], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const trained = async (): Promise<number> =>
      (await readFile(path.join(out, 'metrics.jsonl'), 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"kind":"train"')).length;
    for (let i = 0; i < 600 && (await trained()) < 5; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok((await trained()) >= 5, 'the run trained a few iterations');
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    assert.notEqual(code, 'hung', 'the run did not stop within 30 s of SIGINT');
    assert.equal(code, 0);
    assert.match(stdout, /stopped: \d+ iterations/);
    const status = JSON.parse(await readFile(path.join(out, 'run.json'), 'utf8')).status;
    assert.equal(status, 'stopped');
    const checkpoints = await readdir(path.join(out, 'checkpoints'));
    assert.equal(checkpoints.length, 1);
    assert.ok(Number(checkpoints[0].slice('iter-'.length)) >= 5, `final checkpoint ${checkpoints[0]}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('CLI: an unknown flag, a bad value and an unknown config key are rejected by name', async () => {
  const unknown = await cli(['train', 'gan', '--in-process', '--iteratons', '5']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option '--iteratons'/);
  const bad = await cli(['train', 'gan', '--in-process', '--loss', 'wasserstein']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Allowed choices are nonsaturating, minimax, lsgan, wgan-gp, hinge/);
  const dir = await tmp();
  const file = path.join(dir, 'cfg.json');
  await writeFile(file, JSON.stringify({ iterations: 5, learningRate: 0.1 }));
  const key = await cli(['train', 'gan', '--in-process', '--config', file, '--backend', 'cpu', '--out', path.join(dir, 'r')]);
  assert.equal(key.code, 1);
  assert.match(key.stderr, /unknown key\(s\) "learningRate"/);
  const bound = await cli(['train', 'gan', '--in-process', '--batch-size', '0', '--backend', 'cpu']);
  assert.match(bound.stderr, /batchSize: Too small: expected number to be >=1/);
  const ema = await cli(['train', 'gan', '--in-process', '--g-ema', '1', '--backend', 'cpu']);
  assert.match(ema.stderr, /gEma: Too big: expected number to be <1/);
  const layers = await cli(['train', 'gan', '--in-process', '--d-layers', '6', '--backend', 'cpu']);
  assert.match(layers.stderr, /dLayers: Too big: expected number to be <=5/);
  const mlp = await cli(['train', 'gan', '--in-process', '--preset', 'mlp', '--d-layers', '3', '--backend', 'cpu']);
  assert.equal(mlp.code, 1);
  assert.match(mlp.stderr, /dLayers above 2 needs a convolutional preset \(dcgan, infogan\): mlp has no conv layers/);
  const g = await cli(['train', 'gan', '--in-process', '--preset', 'mlp', '--g-layers', '3', '--backend', 'cpu']);
  assert.match(g.stderr, /gLayers above 2 needs a convolutional preset/);
  const k = await cli(['train', 'gan', '--in-process', '--g-kernel', '3', '--backend', 'cpu']);
  assert.match(k.stderr, /gKernel: gKernel sizes the third generator conv layer: it needs gLayers 3/);
});
