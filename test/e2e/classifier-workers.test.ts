// The data-parallel classifier against the in-process trainer, with real processes: nats-server,
// the classifier scheduler and N workers (`gantry train classifier --workers N`'s launcher), the
// ring all-reduce over gRPC. 'quick' preset, global batch 48 (divisible by 2 and 3), 20 steps.
//   - N = 1: the same run directory and bit-identical weights (`gantry checkpoint diff` says equal);
//   - N = 2, N = 3: the same per-step losses (1e-5 relative), ranks bit-identical (each rank's sha256),
//     and weights at the float32 floor measured for replicas (test/unit/core-parallel-classifier):
//     summing the group's gradients in another order is round-off, and Adam amplifies round-off
//     where its first moment nearly cancels, so 1e-5 on the weights after 20 steps is not a
//     float32 property of N replicas summing in their own order (one process differs from itself as much when only the
//     order of its batch changes). The two biases right before a batch norm (true gradient 0)
//     and the moving mean that follows one of them hold pure round-off and are not compared.
//   - exact sums (microBatches 6, core/parallel/micro-batches.ts): N = 2, N = 3 and the 3 -> 2 -> 3
//     group equal one process bit for bit, every tensor and both Adam moments.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { encodeMessage } from '../../services/control/messages.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { openWorkersBucket, WorkerRoster } from '../../services/control/worker-registry.ts';
import { LocalWorkers, runLocalWorkers } from '../../services/launcher/local-workers.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { lineage } from '../../services/run/metrics-lineage.ts';
import { trainClassifier } from '../../services/train/classifier-trainer.ts';
import { type ClassifierTrainConfig, classifierTrainSchema } from '../../services/train/config.ts';
import { echoOnFailure, GANTRY_BIN, LineSink, quietLog } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';

const run = promisify(execFile);
let nats: TestNats;
let root: string;
let reference: string;

const INERT = new Set(['conv2/bias', 'fc3/bias', 'bn2/moving_mean', 'bn3/moving_mean']);

/** Exact sums: 6 micro-batches of 8 rows, which 1, 2 and 3 workers split evenly. */
const MICRO = 6;

function config(out: string, workers: number, microBatches?: number): ClassifierTrainConfig {
  return classifierTrainSchema.parse({
    preset: 'quick', maxSteps: 20, evalEvery: 10, checkpointEvery: 10, validationSize: 1000, batchSize: 48, seed: 1, out, workers,
    ...(microBatches === undefined ? {} : { microBatches }),
  });
}

let exactReference: string;
before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-classifier-workers-');
  reference = (await trainClassifier(config(path.join(root, 'ref'), 1), quietLog)).runDir;
  exactReference = (await trainClassifier(config(path.join(root, 'ref-exact'), 1, MICRO), quietLog)).runDir;
});

/** Bit for bit: every weight, moving statistic and both Adam moments, by `gantry checkpoint diff --tolerance 0`. */
async function assertIdentical(a: string, b: string): Promise<void> {
  const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '0', '--include-optimizer', '--json', a, b]).catch((err: { stdout: string }) => err);
  const d = JSON.parse(r.stdout) as { status: string; maxAbsDiff: number; tensors: unknown[] };
  assert.equal(d.status, 'equal');
  assert.equal(d.maxAbsDiff, 0);
  assert.equal(d.tensors.length, 40, 'weights, moving statistics and both Adam moments');
}
after(async () => {
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

async function diff(a: string, b: string): Promise<{ status: string; iterations: { a: number; b: number }; tensors: { name: string; maxRelDiff: number }[] }> {
  const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '1e-5', '--json', a, b]).catch((err: { stdout: string }) => err);
  return JSON.parse(r.stdout);
}

async function trainRecords(dir: string): Promise<{ step: number; loss: number }[]> {
  return (await readMetrics(path.join(dir, 'metrics.jsonl'))).filter((m) => m.kind === 'train') as unknown as { step: number; loss: number }[];
}

/** Per-step losses equal the reference's, both ranks' final hashes agree, weights at the float32 floor. */
async function assertEquivalent(dir: string, ranks: number): Promise<void> {
  const [ref, dist] = await Promise.all([trainRecords(reference), trainRecords(dir)]);
  const byStep = new Map(dist.map((r) => [r.step, r])); // a redone step has two records: the same loss
  assert.equal(byStep.size, 20);
  for (const r of ref) {
    const d = byStep.get(r.step)!;
    assert.ok(Math.abs(d.loss - r.loss) <= 1e-5 * r.loss, `step ${r.step}: loss ${d.loss} vs ${r.loss}`);
  }
  const weights = (await readMetrics(path.join(dir, 'metrics.jsonl'))).filter((m) => m.kind === 'weights') as unknown as { ranks: { weightsHash: string }[] }[];
  assert.equal(weights.at(-1)!.ranks.length, ranks);
  assert.equal(new Set(weights.at(-1)!.ranks.map((r) => r.weightsHash)).size, 1, 'every rank holds the same weights bit for bit');
  const d = await diff(reference, dir);
  assert.deepEqual(d.iterations, { a: 20, b: 20 });
  assert.equal(d.tensors.length, 16);
  for (const t of d.tensors.filter((x) => !INERT.has(x.name))) assert.ok(t.maxRelDiff <= 5e-3, `${t.name}: max relative difference ${t.maxRelDiff}`);
}

async function distributed(workers: number, microBatches?: number): Promise<string> {
  const output = new LineSink();
  const name = `n${workers}${microBatches === undefined ? '' : `-exact${microBatches}`}`;
  const s = await echoOnFailure(output, runLocalWorkers(config(path.join(root, name), workers, microBatches),
    { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false, runId: `equiv-${name}` }));
  assert.equal(s.status, 'completed');
  assert.equal(s.steps, 20);
  return s.runDir;
}

test('1 worker = in-process: bit-identical weights and the same run directory', async () => {
  const dir = await distributed(1);
  const d = await diff(reference, dir);
  assert.equal(d.status, 'equal');
  assert.deepEqual(d.iterations, { a: 20, b: 20 });
  assert.equal(d.tensors.length, 16, 'every tensor of the classifier compared');
  assert.ok(d.tensors.every((t) => t.maxRelDiff === 0), 'bit for bit');
  for (const f of ['config.json', 'run.json', 'metrics.jsonl', 'report.html', 'checkpoints/iter-000010', 'checkpoints/iter-000020']) {
    await fsp.access(path.join(dir, f));
  }
  const kinds = new Set((await readMetrics(path.join(dir, 'metrics.jsonl'))).map((m) => m.kind));
  for (const k of ['train', 'validation', 'checkpoint', 'test', 'membership', 'weights']) assert.ok(kinds.has(k), `metrics.jsonl has ${k} records`);
});

let twoWorkers: string | undefined;
for (const n of [2, 3]) {
  test(`${n} workers = in-process at the same global batch: losses, identical ranks, weights at the float32 floor`, async () => {
    const dir = await distributed(n);
    if (n === 2) twoWorkers = dir;
    await assertEquivalent(dir, n);
  });
}

for (const n of [2, 3]) {
  test(`exact sums (--micro-batches ${MICRO}): ${n} workers = one process bit for bit, Adam state and the biases before batch norm included`, async () => {
    const dir = await distributed(n, MICRO);
    await assertIdentical(exactReference, dir);
    const [ref, dist] = await Promise.all([trainRecords(exactReference), trainRecords(dir)]);
    assert.deepEqual(dist.map((r) => r.loss), ref.map((r) => r.loss), 'the same loss at every step, bit for bit');
  });
}

test('a 2-worker run stopped at step 10 and resumed (--resume) = the uninterrupted 2-worker run, bit for bit with Adam state', async () => {
  const full = twoWorkers ?? await distributed(2);
  const dir = path.join(root, 'n2-resumed');
  const output = new LineSink();
  const opts = { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false };
  const first = await echoOnFailure(output, runLocalWorkers({ ...config(dir, 2), maxSteps: 10 }, { ...opts, runId: 'resume-a' }));
  assert.equal(first.steps, 10);
  // A new run id: the launcher of a resumed run starts afresh on the control plane; the run directory carries the state.
  const second = await echoOnFailure(output, runLocalWorkers({ ...config(dir, 2), resume: true }, { ...opts, runId: 'resume-b' }));
  assert.equal(second.steps, 20);
  const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '0', '--include-optimizer', '--json', full, dir]);
  const d = JSON.parse(r.stdout) as { status: string; maxAbsDiff: number; tensors: unknown[] };
  assert.equal(d.status, 'equal');
  assert.equal(d.maxAbsDiff, 0);
  assert.equal(d.tensors.length, 40, 'weights, moving statistics and both Adam moments');
});

test('exact sums: a 2-worker run stopped at step 10 and resumed on 3 workers (--resume) = one process bit for bit', async () => {
  const dir = path.join(root, 'n2-then-n3-exact');
  const output = new LineSink();
  const opts = { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false };
  const first = await echoOnFailure(output, runLocalWorkers({ ...config(dir, 2, MICRO), maxSteps: 10 }, { ...opts, runId: 'resume-n' }));
  assert.equal(first.steps, 10);
  assert.equal(first.status, 'completed');
  // The same run id on the same NATS: the run's KV entry says completed, and --resume reopens it.
  const second = await echoOnFailure(output, runLocalWorkers({ ...config(dir, 3, MICRO), resume: true }, { ...opts, runId: 'resume-n' }));
  assert.equal(second.steps, 20);
  const records = await readMetrics(path.join(dir, 'metrics.jsonl'));
  const workersAt = (step: number) => records.find((m) => m.kind === 'train' && m.step === step)?.workers;
  assert.deepEqual([workersAt(10), workersAt(11), workersAt(20)], [2, 3, 3], 'steps 1-10 on 2 workers, 11-20 on 3');
  await assertIdentical(exactReference, dir);
});

test('kill -9 the scheduler mid-run: the launcher restarts it, it resumes from the checkpoint, the run ends as if never interrupted', async () => {
  const full = twoWorkers ?? await distributed(2);
  const output = new LineSink();
  let done = 0;
  let killed = false;
  let schedulerSpawns = 0;
  const workers: LocalWorkers = new LocalWorkers({ ...config(path.join(root, 'n2-scheduler-killed'), 2), checkpointEvery: 5 }, {
    natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false, runId: 'scheduler-killed',
    onEvent: (e) => {
      if (e.type === 'spawn' && e.role === 'scheduler') schedulerSpawns++;
      if (e.type !== 'progress' || e.status !== 'running') return;
      done = Math.max(done, e.iteration);
      if (done >= 12 && !killed) {
        killed = true;
        process.kill(workers.schedulerPid()!, 'SIGKILL');
      }
    },
  });
  try {
    const s = await echoOnFailure(output, workers.run());
    assert.ok(killed, 'the scheduler was killed');
    assert.equal(s.status, 'completed');
    assert.equal(s.steps, 20);
    assert.equal(schedulerSpawns, 2, 'restarted once');
    const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '0', '--include-optimizer', '--json', full, s.runDir]);
    assert.equal((JSON.parse(r.stdout) as { status: string }).status, 'equal');
    // The restarted scheduler recomputed the steps past its checkpoint: metrics.jsonl marks the
    // resume, and its lineage is the uninterrupted run's history, step for step, loss for loss.
    const raw = await readMetrics(path.join(s.runDir, 'metrics.jsonl'));
    const resumes = raw.filter((m) => m.kind === 'resume');
    assert.equal(resumes.length, 1, 'one resume record');
    assert.ok((resumes[0].step as number) % 5 === 0 && (resumes[0].step as number) >= 10, `resumed from a checkpoint: ${JSON.stringify(resumes[0])}`);
    const losses = (records: Record<string, unknown>[]) => lineage(records).filter((m) => m.kind === 'train').map((m) => [m.step, m.loss]);
    assert.deepEqual(losses(raw), losses(await readMetrics(path.join(full, 'metrics.jsonl'))));
  } finally {
    await workers.shutdown();
  }
});

test('membership 3 -> 2 -> 3 mid-run (kill -9; paused while a newcomer starts; resumed), exact sums: = one process bit for bit', async () => {
  const output = new LineSink();
  let done = 0;
  let pausedAt: number | undefined;
  const waiters = new Set<() => void>();
  const until = (cond: () => boolean): Promise<void> => new Promise((resolve) => {
    const check = (): void => { if (cond()) { waiters.delete(check); resolve(); } };
    waiters.add(check);
    check();
  });
  const runId = 'equiv-elastic';
  const nc = await connect({ servers: nats.url });
  const roster = await new WorkerRoster(await openWorkersBucket(nc), runId, quietLog).start();
  const workers = new LocalWorkers(config(path.join(root, 'n3-2-3'), 3, MICRO), {
    natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false, runId,
    env: { scheduler: { GANTRY_LIVENESS_MS: '2000', GANTRY_HEARTBEAT_MS: '200' }, worker: { GANTRY_HEARTBEAT_MS: '200' } },
    onEvent: (e) => {
      if (e.type !== 'progress') return;
      done = Math.max(done, e.iteration);
      if (e.status === 'paused') pausedAt = e.iteration;
      for (const w of [...waiters]) w();
    },
  });
  try {
    const finished = echoOnFailure(output, workers.run());
    await until(() => done >= 5);
    process.kill(workers.workerPids()[1], 'SIGKILL');
    // Once the group of 2 has formed, the run is held (the message `gantry run pause` sends,
    // published at once so that the run cannot end first) while the newcomer loads tfjs and
    // registers, however slow the machine, then resumed: the membership check at resume forms
    // the group of 3 before the next step.
    await output.waitFor(/^\[scheduler\] .*"msg":"forming generation".*"size":2\b/, 60_000);
    nc.publish(runSubjects(runId).control, encodeMessage({ type: 'pause', run: runId, reason: 'test: let a newcomer start' }));
    await until(() => pausedAt !== undefined);
    assert.ok(pausedAt! < 20, `paused at step ${pausedAt}, before the end`);
    const pid = await workers.addWorker();
    await waitFor(() => roster.live(60_000).some((w) => w.reg.pid === pid && w.reg.ready), 'the newcomer registered ready', 120_000, 100);
    assert.equal(done, pausedAt, 'no step ran while paused');
    // `gantry status` lists the registered workers: the two ranks and the newcomer, not yet in a group.
    const status = JSON.parse((await run(process.execPath, [GANTRY_BIN, 'status', '--nats', nats.url, '--run', runId, '--json', '--listen-ms', '0'])).stdout) as
      { state: { status: string; generation: number }; workers: { pid: number; rank: number | null; generation: number | null; ready: boolean }[] };
    assert.equal(status.state.status, 'paused');
    assert.ok(status.workers.some((w) => w.pid === pid && w.ready && w.rank === null), `the newcomer unranked in ${JSON.stringify(status.workers)}`);
    const ranks = status.workers.filter((w) => w.generation === status.state.generation).map((w) => w.rank).sort();
    assert.deepEqual(ranks, [0, 1], `the ranks of generation ${status.state.generation} in ${JSON.stringify(status.workers)}`);
    await run(process.execPath, [GANTRY_BIN, 'run', 'resume', '--nats', nats.url, '--run', runId]);
    const s = await finished;
    assert.equal(s.status, 'completed');
    const records = await readMetrics(path.join(s.runDir, 'metrics.jsonl'));
    const sizes = records.filter((m) => m.kind === 'membership').map((m) => m.size);
    assert.deepEqual([sizes[0], sizes.includes(2), sizes.at(-1)], [3, true, 3], `generation sizes ${JSON.stringify(sizes)}`);
    const firstOfThree = records.find((m) => m.kind === 'train' && m.step === pausedAt! + 1);
    assert.equal(firstOfThree?.workers, 3, 'the step after resume ran on 3 workers');
    // Exact sums: the group's changes change nothing, not even round-off.
    await assertIdentical(exactReference, s.runDir);
  } finally {
    await workers.shutdown();
    roster.stop();
    await nc.close();
  }
});

test('the CLI: gantry train classifier --workers 1 prints the test accuracy; --nats without --workers is a usage error', async () => {
  const out = path.join(root, 'cli');
  const r = await run(process.execPath, [GANTRY_BIN, 'train', 'classifier', '--workers', '1', '--nats', nats.url, '--preset', 'quick',
    '--max-steps', '2', '--eval-every', '2', '--validation-size', '1000', '--out', out]);
  assert.match(r.stdout, /^completed: test accuracy \d+\.\d\d% \(loss \d+\.\d{4}\) after 2 steps in \d+ s \(generation 1\); run directory /);
  await fsp.access(path.join(out, 'checkpoints', 'iter-000002'));
  const bad = await run(process.execPath, [GANTRY_BIN, 'train', 'classifier', '--nats', nats.url, '--max-steps', '1']).then(() => undefined, (e: { code: number; stderr: string }) => e);
  assert.ok(bad, 'the command failed');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--nats is for data-parallel runs: add --workers N/);
});
