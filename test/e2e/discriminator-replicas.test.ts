// The discriminator as a replica group (`gantry train gan --discriminator-replicas N`) against one
// discriminator, with real processes: nats-server, the generator, N discriminator ranks (the ring
// all-reduce over gRPC, rank 0's fan-out of the G-step) and the scheduler. Batch 12 (divisible by
// 2 and 3), 20 iterations, checkpoints at 10 and 20:
//   - mlp (no batch norm) with N = 2 and N = 3, and dcgan with small widths (batch norm in D,
//     synchronised across the ranks) with N = 2, each against the in-process trainer with the same
//     config and N = 1 (test/e2e/distributed-equivalence.test.ts proves one distributed
//     discriminator equal to it bit for bit), by `gantry checkpoint diff --json`;
//   - every rank holds the same weights bit for bit at every checkpoint (the scheduler records the
//     ranks' sha256 as kind 'weights' in metrics.jsonl and stops the run when they differ);
//   - the N = 3 run loses rank 1 (kill -9) after iteration 4: the launcher restarts it, the
//     scheduler re-forms the generation from the last checkpoint (here the initial weights) with
//     every rank restored, and the run still ends equal to one discriminator's.
// Every tensor is within 1e-5 (relative) of one discriminator's (measured: mlp 2e-6, dcgan 6e-7),
// except, with batch norm, the biases right before a batch norm (G's fc2 and deconv3, D's conv2:
// their true gradient is 0, so they hold pure round-off that Adam's normalisation blows up to
// O(1) relative) and the moving means that follow them; those are not compared (as in
// test/e2e/classifier-workers.test.ts). The ring sums the slices in another float32 order than
// one process's batch reduction: that round-off is all that differs. With exact sums
// (microBatches) nothing differs: dcgan with 2 and 3 replicas equals one discriminator bit for bit.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import type { GanTrainConfig } from '../../services/train/config.ts';
import { echoOnFailure, GANTRY_BIN, LineSink, quietLog, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.ts';

const run = promisify(execFile);
let nats: TestNats;
let root: string;

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-discriminator-replicas-');
});
after(async () => {
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

const DCGAN: Partial<GanTrainConfig> = { preset: 'dcgan', zDim: 8, gWidth: 4, dWidth: 4 };
const CASES: { name: string; replicas: number; overrides: Partial<GanTrainConfig>; kill?: true }[] = [
  { name: 'mlp', replicas: 2, overrides: {} },
  { name: 'mlp', replicas: 3, overrides: {}, kill: true },
  { name: 'dcgan', replicas: 2, overrides: DCGAN },
];
/** Biases right before a batch norm (G: fc2, deconv3; D: conv2) and the moving means after them: round-off only. */
const INERT = new Set(['fc2/bias', 'deconv3/bias', 'conv2/bias', 'bn2/moving_mean', 'bn3/moving_mean']);
const TOLERANCE = 1e-5;

function config(out: string, overrides: Partial<GanTrainConfig>, replicas?: number): GanTrainConfig {
  return tinyGanConfig({
    out, iterations: 20, checkpointEvery: 10, sampleEvery: 10, batchSize: 12, ...overrides, ...(replicas ? { discriminatorReplicas: replicas } : {}),
  });
}

// The in-process references share this process's tfjs engine: one at a time, one per preset.
const references = new Map<string, Promise<string>>();
let referenceQueue: Promise<unknown> = Promise.resolve();
function reference(name: string, overrides: Partial<GanTrainConfig>): Promise<string> {
  let r = references.get(name);
  if (!r) {
    const out = path.join(root, `ref-${name}`);
    r = referenceQueue.then(() => trainReference(config(out, overrides), out));
    referenceQueue = r.catch(() => undefined);
    references.set(name, r);
  }
  return r;
}

interface DiffReport { status: string; iterations: { a: number; b: number }; tensors: { name: string; maxRelDiff: number }[]; maxRelDiff: number }

async function diff(a: string, b: string): Promise<DiffReport> {
  const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '1e-5', '--json', a, b]).catch((err: { stdout: string }) => err);
  return JSON.parse(r.stdout) as DiffReport;
}

// The three clusters run at once: each spends most of its time starting processes.
describe('discriminator replicas', { concurrency: CASES.length }, () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.replicas} discriminator replicas = one discriminator after 20 iterations; ranks bit-identical`, async () => {
      const cfg = config(path.join(root, `${c.name}-n${c.replicas}`), c.overrides, c.replicas);
      const output = new LineSink();
      const pids = new Map<number, number>();
      let killed = false;
      const onEvent = (e: ClusterEvent): void => {
        if (e.type === 'spawn' && e.role === 'discriminator') pids.set(e.rank ?? 0, e.pid);
        if (c.kill && !killed && e.type === 'progress' && e.iteration >= 4 && pids.has(1)) {
          killed = true;
          process.kill(pids.get(1)!, 'SIGKILL');
        }
      };
      const summary = await echoOnFailure(output, runLocalCluster(cfg, { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false, onEvent }));
      assert.equal(summary.status, 'completed');
      assert.equal(summary.iterations, 20);
      assert.equal(pids.size, c.replicas, 'one process per rank');
      if (c.kill) {
        assert.ok(killed, 'rank 1 was killed mid-run');
        assert.equal(summary.restarts.discriminator, 1, 'the launcher restarted the dead rank');
        assert.ok(summary.generation >= 2, `the scheduler re-formed the generation (generation ${summary.generation})`);
      }

      const records = await readMetrics(path.join(summary.runDir, 'metrics.jsonl'));
      const weights = records.filter((m) => m.kind === 'weights') as unknown as { iteration: number; ranks: { rank: number; weightsHash: string }[] }[];
      assert.deepEqual(weights.map((w) => w.iteration), [10, 20], 'a hash of every rank at every checkpoint');
      for (const w of weights) {
        assert.deepEqual(w.ranks.map((r) => r.rank), Array.from({ length: c.replicas }, (_, r) => r));
        assert.equal(new Set(w.ranks.map((r) => r.weightsHash)).size, 1, `iteration ${w.iteration}: every rank holds the same weights bit for bit`);
      }

      const report = await diff(await reference(c.name, c.overrides), summary.runDir);
      assert.deepEqual(report.iterations, { a: 20, b: 20 });
      assert.equal(report.tensors.length, c.name === 'mlp' ? 12 : 24, 'every tensor of G and D compared');
      const compared = report.tensors.filter((t) => c.name === 'mlp' || !INERT.has(t.name));
      const worst = Math.max(...compared.map((t) => t.maxRelDiff));
      process.stdout.write(`# ${c.name} N=${c.replicas}: max relative difference to N=1 ${worst.toExponential(2)} over ${compared.length} tensors\n`);
      for (const t of compared) assert.ok(t.maxRelDiff <= TOLERANCE, `${t.name}: max relative difference ${t.maxRelDiff}`);
      if (c.name === 'mlp') assert.equal(report.status, 'equal');
    });
  }
});

// Exact sums (--micro-batches 6: micro-batches of 2 rows): one discriminator and 2 or 3 replicas
// compute the same bits, so the whole run (G included: it receives the same dL/dG(z)) is equal to
// one discriminator's with tolerance 0, Adam state and the biases before batch norm included.
describe('discriminator replicas with exact sums', { concurrency: 3 }, () => {
  const EXACT: Partial<GanTrainConfig> = { ...DCGAN, microBatches: 6 };
  const runs = new Map<number, Promise<string>>();
  const cluster = (replicas: number): Promise<string> => {
    let r = runs.get(replicas);
    if (!r) {
      const output = new LineSink();
      const cfg = config(path.join(root, `dcgan-exact-n${replicas}`), EXACT, replicas > 1 ? replicas : undefined);
      r = echoOnFailure(output, runLocalCluster(cfg, { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false })).then((s) => {
        assert.equal(s.status, 'completed');
        assert.equal(s.iterations, 20);
        return s.runDir;
      });
      runs.set(replicas, r);
    }
    return r;
  };
  it('dcgan, stopped at iteration 10 on 2 replicas and resumed on 3 (--resume) = one discriminator bit for bit', async () => {
    const out = path.join(root, 'dcgan-exact-n2-then-n3');
    const output = new LineSink();
    const opts = { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false };
    const first = await echoOnFailure(output, runLocalCluster({ ...config(out, EXACT, 2), iterations: 10 }, opts));
    assert.equal(first.iterations, 10);
    assert.equal(first.status, 'completed');
    // The same run id (from the directory) on the same NATS: its KV entry says completed, and --resume reopens it.
    const second = await echoOnFailure(output, runLocalCluster({ ...config(out, EXACT, 3), resume: true }, opts));
    assert.equal(second.status, 'completed');
    assert.equal(second.iterations, 20);
    const weights = (await readMetrics(path.join(out, 'metrics.jsonl'))).filter((m) => m.kind === 'weights') as unknown as { iteration: number; ranks: unknown[] }[];
    assert.deepEqual(weights.map((w) => [w.iteration, w.ranks.length]), [[10, 2], [20, 3]], 'the ranks that hashed each checkpoint');
    const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '0', '--include-optimizer', '--json', await cluster(1), out])
      .catch((err: { stdout: string }) => err);
    const d = JSON.parse(r.stdout) as { status: string; maxAbsDiff: number };
    assert.equal(d.status, 'equal');
    assert.equal(d.maxAbsDiff, 0);
  });
  for (const n of [2, 3]) {
    it(`dcgan, ${n} replicas = one discriminator bit for bit (gantry checkpoint diff --tolerance 0 --include-optimizer)`, async () => {
      const [one, many] = await Promise.all([cluster(1), cluster(n)]);
      const r = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '0', '--include-optimizer', '--json', one, many]).catch((err: { stdout: string }) => err);
      const d = JSON.parse(r.stdout) as { status: string; maxAbsDiff: number; tensors: { name: string }[] };
      assert.equal(d.status, 'equal');
      assert.equal(d.maxAbsDiff, 0);
      assert.ok(d.tensors.some((t) => t.name === 'conv2/bias') && d.tensors.some((t) => t.name === 'deconv3/bias'), 'the inert biases are compared too');
    });
  }
});
