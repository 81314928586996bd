// Failures the local cluster must survive or stop on without loading bad state, in one run:
// the discriminator dies while writing checkpoint 10 (test hook), leaving a half-written
// iter-000010.partial that is never loaded: the run resumes from iter-000005, and the re-written
// iter-000010 equals the in-process trainer's. Then a NaN loss at iteration 12 (test hook) stops
// the run with an error naming the quantity and the iteration, keeping iter-000010.
// And a scheduler that exits 1 without failing the run (it cannot listen: an address not of this
// machine) crashed: it is restarted, the launcher says why, and gives up after maxRestarts.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { ClusterFailed, type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { listCheckpoints } from '../../services/run/checkpoint-list.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { readRunInfo, runDirPaths } from '../../services/run/run-dir.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { isAlive, startTestNats, tempDir, type TestNats } from '../harness/nats.ts';

let nats: TestNats;
let nc: NatsConnection;
let root: string;

before(async () => {
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
  root = await tempDir('gantry-cluster-failure-');
});
after(async () => {
  await closeNats(nc);
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

it('never loads a half-written checkpoint, and stops on NaN keeping the last good one', async () => {
  const runDir = path.join(root, 'run');
  const cfg = tinyGanConfig({ out: runDir, iterations: 20, checkpointEvery: 5 });
  const output = new LineSink();
  const pids: number[] = [];
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const cluster = runLocalCluster(cfg, {
    natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false,
    onEvent: (e: ClusterEvent) => { if (e.type === 'spawn') pids.push(e.pid); },
    env: {
      generator: common,
      discriminator: { ...common, GANTRY_TEST_EXIT_IN_CHECKPOINT_AT: '10', GANTRY_TEST_INJECT_NAN_AT: '12' },
      scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: '5000', GANTRY_LIVENESS_MS: '2000' },
    },
  });
  await assert.rejects(cluster, (err: unknown) => {
    assert.ok(err instanceof ClusterFailed, String(err));
    assert.match(err.message, /discriminator loss became non-finite at iteration 12/);
    assert.match(err.message, /last good checkpoint \(checkpoints\/iter-000010\) is kept/);
    assert.equal(err.details?.quantity, 'discriminator loss');
    assert.equal(err.details?.iteration, 12);
    return true;
  });

  // The death inside checkpoint 10, and the resumption from 5 rather than the half-written 10.
  assert.ok(output.find(/^\[discriminator\] .*TEST HOOK GANTRY_TEST_EXIT_IN_CHECKPOINT_AT/), 'the discriminator died inside checkpoint 10');
  const formed = output.lines.filter((l) => l.includes('"msg":"forming generation"')).map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { from: string });
  assert.equal(formed[0]?.from, 'initial weights');
  assert.equal(formed[1]?.from, 'checkpoints/iter-000005', 'resumed from iter-000005, not the half-written iter-000010');
  assert.ok(formed.every((f) => !f.from.includes('.partial')));
  const listing = await listCheckpoints(path.join(runDir, 'checkpoints'), { verify: true });
  assert.deepEqual(listing.checkpoints.map((c) => c.iteration), [5, 10]);
  await assert.rejects(fsp.stat(path.join(runDir, 'checkpoints/iter-000010.partial')), { code: 'ENOENT' });
  const reference = await trainReference({ ...cfg, iterations: 10 }, path.join(root, 'reference'));
  const report = await diffCheckpoints(path.join(reference, 'checkpoints/iter-000010'), path.join(runDir, 'checkpoints/iter-000010'));
  assert.equal(report.status, 'equal');

  // The NaN: failed in KV, run.json and metrics.jsonl; iter-000010 is the last checkpoint.
  const state = (await (await RunStateStore.open(nc)).get('run'))!.state;
  assert.equal(state.status, 'failed');
  assert.equal(state.error?.code, 'non-finite');
  assert.deepEqual(state.lastCheckpoint, { iteration: 10, path: 'checkpoints/iter-000010' });
  assert.equal((await readRunInfo(runDirPaths(runDir, 'gan'))).status, 'failed');
  const records = await readMetrics(path.join(runDir, 'metrics.jsonl'));
  assert.equal(records.at(-1)?.kind, 'error');
  assert.equal(records.filter((r) => r.kind === 'train').length, 12, 'iterations 1..12 completed, t = 12 failed');
  assert.deepEqual(pids.filter(isAlive), []);
});

it('a scheduler that exits 1 without failing the run is restarted, the launcher says why, and gives up after maxRestarts', async () => {
  const cfg = tinyGanConfig({ out: path.join(root, 'cannot-listen'), iterations: 6, checkpointEvery: 3 });
  const launcherLog = new LineSink();
  const output = new LineSink();
  const exits: { code: number | null }[] = [];
  // 192.0.2.1 (TEST-NET-1) is no address of this machine: every start fails to listen with
  // EADDRNOTAVAIL, a crash (exit 1) that is not a taken port (exit 3, moved: launcher-port-taken).
  const run = runLocalCluster(cfg, {
    natsUrl: nats.url, runId: 'cannot-listen', log: createLogger({ component: 'launcher', format: 'json', stream: launcherLog }),
    output, progress: false, handleSignals: false, maxRestarts: 1,
    onEvent: (e: ClusterEvent) => {
      if (e.type === 'exit' && e.role === 'scheduler') exits.push({ code: e.code });
    },
    env: { scheduler: { GANTRY_METRICS_HOST: '192.0.2.1' } },
  });
  await assert.rejects(run, (err: Error) => {
    assert.ok(err instanceof ClusterFailed, String(err));
    assert.match(err.message, /the scheduler died 2 times \(last: scheduler, code 1: .*EADDRNOTAVAIL.*\); giving up/);
    return true;
  });
  assert.deepEqual(exits, [{ code: 1 }, { code: 1 }]);
  const warning = launcherLog.find(/the scheduler exited \(code 1: .*cannot listen on 192\.0\.2\.1:\d+.*EADDRNOTAVAIL.*\); restarting it/);
  assert.ok(warning, `the restart names the cause: ${launcherLog.lines.join('\n')}`);
});
