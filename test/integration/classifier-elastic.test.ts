// Elastic membership of the data-parallel classifier, with real processes (nats-server, the
// classifier scheduler, workers) and real faults:
//   - kill -9 a worker mid-run: the step whose collective failed is redone by a generation of
//     the survivor, the run goes on with N-1; a new worker then joins at a step boundary with
//     rank 0's weights and Adam state, and every rank ends with the same weights (sha256);
//   - SIGSTOP a worker past the liveness deadline: the scheduler names its rank and host and the
//     group continues without it.
import assert from 'node:assert/strict';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LocalWorkers } from '../../services/launcher/local-workers.ts';
import { SERVICE_NODE_FLAGS } from '../../services/launcher/node-flags.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { echoOnFailure, LineSink, quietLog } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.ts';

let nats: TestNats;
let root: string;

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-classifier-elastic-');
});
after(async () => {
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

interface Membership { generation: number; step: number; size: number; members: { rank: number; key: string; source: string }[]; joined: string[]; left: string[]; weightsHash: string }

function cluster(name: string, steps: number): { workers: LocalWorkers; output: LineSink; progress: (atLeast: number) => Promise<void> } {
  const cfg = classifierTrainSchema.parse({
    preset: 'quick', maxSteps: steps, evalEvery: 10, checkpointEvery: 10, validationSize: 1000, batchSize: 64, seed: 2, workers: 2,
    out: path.join(root, name),
  });
  let done = 0;
  const waiters = new Set<() => void>();
  const output = new LineSink();
  const workers = new LocalWorkers(cfg, {
    natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false, runId: name,
    env: { scheduler: { GANTRY_LIVENESS_MS: '2000', GANTRY_HEARTBEAT_MS: '200' }, worker: { GANTRY_HEARTBEAT_MS: '200', GANTRY_RPC_TIMEOUT_MS: '20000' } },
    onEvent: (e) => {
      if (e.type !== 'progress') return;
      done = Math.max(done, e.iteration);
      for (const w of [...waiters]) w();
    },
  });
  const progress = (atLeast: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      if (done < atLeast) return;
      waiters.delete(check);
      resolve();
    };
    waiters.add(check);
    check();
  });
  return { workers, output, progress };
}

const keyOf = (pid: number, m: Membership): string | undefined => m.members.find((x) => x.key.includes(`-${pid}-`))?.key;

test('kill -9 rank 0: the run goes on with N-1; a new worker joins with identical weights', async () => {
  const { workers, output, progress } = cluster('elastic-kill', 50);
  try {
    const finished = echoOnFailure(output, workers.run());
    await progress(8);
    // Rank 0 (it serves validation and checkpoints): the survivor must take its place.
    const first = (await readMetrics(path.join(workers.runDir, 'metrics.jsonl'))).find((r) => r.kind === 'membership') as unknown as Membership;
    const victim = workers.workerPids().find((pid) => keyOf(pid, first) === first.members[0].key)!;
    assert.ok(victim, 'rank 0 is one of the launched workers');
    // The launcher starts its workers with the service V8 flags (launcher/node-flags.ts).
    for (const pid of workers.workerPids()) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      for (const flag of SERVICE_NODE_FLAGS) assert.ok(argv.includes(flag), `worker ${pid} runs with ${flag}: ${argv.join(' ')}`);
    }
    process.kill(victim, 'SIGKILL');
    await progress(22);
    const newcomer = await workers.addWorker();
    const summary = await finished;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.steps, 50);

    const records = await readMetrics(path.join(workers.runDir, 'metrics.jsonl'));
    const changes = records.filter((r) => r.kind === 'membership') as unknown as Membership[];
    assert.equal(changes[0].size, 2);
    const shrunk = changes.find((c) => c.size === 1);
    assert.ok(shrunk, `a generation of 1 after the kill: ${JSON.stringify(changes.map((c) => c.size))}`);
    assert.ok(shrunk.left.some((k) => k.includes(`-${victim}-`)), 'the killed worker left');
    const grown = changes.find((c) => c.generation > shrunk.generation && c.size === 2)!;
    assert.ok(grown, 'a generation of 2 after the newcomer');
    const newKey = keyOf(newcomer, grown);
    assert.ok(newKey && grown.joined.includes(newKey), 'the newcomer joined');
    assert.equal(grown.members.find((m) => m.key === newKey)!.source, 'peer', "the newcomer loaded rank 0's weights");
    assert.ok(grown.step > shrunk.step && grown.step < 50, `joined at a step boundary mid-run (${grown.step})`);
    // Every committed step has its record; the step whose collective failed was redone, not lost.
    const steps = new Set(records.filter((r) => r.kind === 'train').map((r) => r.step as number));
    assert.equal(steps.size, 50);
    const final = records.filter((r) => r.kind === 'weights').at(-1) as unknown as { ranks: { key: string; weightsHash: string; applied: number }[] };
    assert.equal(final.ranks.length, 2);
    assert.ok(final.ranks.some((r) => r.key === newKey), 'the newcomer reports its hash');
    assert.equal(new Set(final.ranks.map((r) => r.weightsHash)).size, 1, 'every rank ends with the same weights');
  } finally {
    await workers.shutdown();
  }
});

test('SIGSTOP a worker past the liveness deadline: its rank and host are named, the group goes on', async () => {
  const { workers, output, progress } = cluster('elastic-stall', 24);
  let stopped: number | undefined;
  try {
    const finished = echoOnFailure(output, workers.run());
    await progress(5);
    stopped = workers.workerPids()[1];
    process.kill(stopped, 'SIGSTOP');
    const line = await output.waitFor(/worker stalled/, 30_000);
    const report = JSON.parse(line.slice(line.indexOf('{'))) as { rank: number; host: string; key: string };
    assert.ok(report.key.includes(`-${stopped}-`), 'the stalled worker is the one stopped');
    assert.equal(typeof report.rank, 'number');
    assert.ok(report.host.length > 0);
    const summary = await finished;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.steps, 24);
    const changes = (await readMetrics(path.join(workers.runDir, 'metrics.jsonl'))).filter((r) => r.kind === 'membership') as unknown as Membership[];
    assert.ok(changes.some((c) => c.size === 1 && c.left.includes(report.key)), 'a generation without the stalled worker');
  } finally {
    if (stopped !== undefined) {
      try { process.kill(stopped, 'SIGKILL'); } catch { /* already gone */ }
    }
    await workers.shutdown();
  }
});
