// kill -9 of nats-server under a local data-parallel classifier run (LocalWorkers with its own
// nats-server): the launcher restarts it on the same port with its store in RUN_DIR/.cluster/nats,
// the scheduler and both workers reconnect, the run finishes with both workers (no generation
// re-formed without one) and both ranks end with the same weights. RUN_DIR/.cluster is gone after.
// That the weights are also bit for bit those of a fault-free run is the chaos schedule's check
// (`npm run chaos -- --kinds workers-kill-nats`): a second run would double this test's cost.
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LocalWorkers, type WorkersEvent } from '../../services/launcher/local-workers.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { echoOnFailure, LineSink, quietLog } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

const STEPS = 12;
let root: string;

before(async () => { root = await tempDir('gantry-workers-nats-'); });
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

interface Run { workers: LocalWorkers; output: LineSink; events: WorkersEvent[]; progress: (atLeast: number) => Promise<void> }

function start(name: string): Run {
  const cfg = classifierTrainSchema.parse({
    preset: 'quick', maxSteps: STEPS, evalEvery: STEPS, checkpointEvery: 6, validationSize: 200, batchSize: 32, seed: 4, workers: 2,
    out: path.join(root, name),
  });
  let done = 0;
  const waiters = new Set<() => void>();
  const events: WorkersEvent[] = [];
  const output = new LineSink();
  const workers = new LocalWorkers(cfg, {
    log: quietLog, output, progress: false, handleSignals: false, runId: name,
    env: { scheduler: { GANTRY_LIVENESS_MS: '3000', GANTRY_HEARTBEAT_MS: '200' }, worker: { GANTRY_HEARTBEAT_MS: '200', GANTRY_RPC_TIMEOUT_MS: '20000' } },
    onEvent: (e) => {
      events.push(e);
      if (e.type !== 'progress') return;
      done = Math.max(done, e.iteration);
      for (const w of [...waiters]) w();
    },
  });
  const progress = (atLeast: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => { if (done >= atLeast) { waiters.delete(check); resolve(); } };
    waiters.add(check);
    check();
  });
  return { workers, output, events, progress };
}

type Ranks = { ranks: { weightsHash: string }[] };
const finalHashes = async (runDir: string): Promise<string[]> =>
  ((await readMetrics(path.join(runDir, 'metrics.jsonl'))).filter((r) => r.kind === 'weights').at(-1) as unknown as Ranks).ranks.map((r) => r.weightsHash);

test('kill -9 nats-server mid-run: restarted with its store, the run finishes with N workers in step', async () => {
  const faulted = start('faulted');
  try {
    const finished = echoOnFailure(faulted.output, faulted.workers.run());
    await faulted.progress(4);
    const nats = faulted.events.find((e) => e.type === 'nats') as Extract<WorkersEvent, { type: 'nats' }>;
    assert.ok(existsSync(path.join(faulted.workers.runDir, '.cluster', 'nats', 'jetstream')), 'the store is in the run directory');
    process.kill(-nats.pid, 'SIGKILL'); // the watchdog's group: nats-server itself
    const summary = await finished;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.steps, STEPS);
    const again = faulted.events.filter((e) => e.type === 'nats');
    assert.equal(again.length, 2, 'one restart');
    assert.equal((again[1] as { url: string }).url, nats.url, 'on the same port');
    assert.equal(faulted.events.filter((e) => e.type === 'nats-exit').length, 1);
    const membership = (await readMetrics(path.join(faulted.workers.runDir, 'metrics.jsonl'))).filter((r) => r.kind === 'membership') as unknown as { size: number }[];
    assert.ok(membership.every((m) => m.size === 2), `membership stayed at 2: ${JSON.stringify(membership.map((m) => m.size))}`);
    const hashes = await finalHashes(faulted.workers.runDir);
    assert.equal(hashes.length, 2);
    assert.equal(new Set(hashes).size, 1, 'both ranks end with the same weights');
  } finally {
    await faulted.workers.shutdown();
  }
  assert.equal(existsSync(path.join(faulted.workers.runDir, '.cluster')), false, 'RUN_DIR/.cluster removed');
});
