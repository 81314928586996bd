// The local cluster survives kill -9 of each process in turn: the discriminator, then the
// generator, then the scheduler. Each time the scheduler notices within its command deadline and
// logs the dead role, the launcher restarts the child, and the run resumes from the last complete
// checkpoint. Because every step is a pure function of (weights, seed, t, s), the recovered run
// must end with exactly the in-process trainer's weights. No process outlives the launcher.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import type { MemberRole } from '../../services/control/subjects.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { isAlive, tempDir } from '../harness/nats.ts';

const COMMAND_TIMEOUT_MS = 5_000;
let root: string;

before(async () => { root = await tempDir('gantry-cluster-recovery-'); });
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

interface Kill { role: MemberRole; pid: number; at: number; iteration: number }

it('recovers from kill -9 of the discriminator, the generator and the scheduler, and ends with the in-process weights', async () => {
  const runDir = path.join(root, 'run');
  const cfg = tinyGanConfig({ out: runDir, iterations: 40, checkpointEvery: 4, sampleEvery: 20 });
  const output = new LineSink();
  const pids = new Map<MemberRole, number>();
  const everyPid: number[] = [];
  const kills: Kill[] = [];
  const plan: { role: MemberRole; after: number }[] = [
    { role: 'discriminator', after: 6 }, { role: 'generator', after: 14 }, { role: 'scheduler', after: 22 },
  ];
  const onEvent = (e: ClusterEvent): void => {
    if (e.type === 'spawn' || e.type === 'nats') everyPid.push(e.pid);
    if (e.type === 'spawn') pids.set(e.role, e.pid);
    if (e.type !== 'progress' || e.status !== 'running') return;
    const next = plan[kills.length];
    // Kill the next role once the run is past its mark and the previous victim has been replaced.
    const replaced = kills.length === 0 || pids.get(kills[kills.length - 1].role) !== kills[kills.length - 1].pid;
    if (next && replaced && e.iteration >= next.after) {
      const pid = pids.get(next.role)!;
      kills.push({ role: next.role, pid, at: Date.now(), iteration: e.iteration });
      process.kill(pid, 'SIGKILL');
    }
  };
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const summary = await echoOnFailure(output, runLocalCluster(cfg, {
    log: quietLog, output, progress: false, handleSignals: false, onEvent,
    env: {
      generator: common, discriminator: common,
      scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS), GANTRY_LIVENESS_MS: '2000', GANTRY_RECOVERY_TIMEOUT_MS: '30000' },
    },
  }));

  assert.deepEqual(kills.map((k) => k.role), ['discriminator', 'generator', 'scheduler'], 'every planned kill happened mid-run');
  assert.equal(summary.status, 'completed');
  assert.equal(summary.iterations, 40);
  assert.deepEqual(summary.restarts, { generator: 1, discriminator: 1, scheduler: 1 });

  // The scheduler noticed each service death within its deadline and named the role.
  for (const kill of kills.filter((k) => k.role !== 'scheduler')) {
    const line = output.find(new RegExp(`^\\[scheduler\\] .*"msg":"${kill.role} is dead`));
    assert.ok(line, `the scheduler logged that the ${kill.role} is dead`);
    const noticedAt = Date.parse((JSON.parse(line.slice('[scheduler] '.length)) as { ts: string }).ts);
    assert.ok(noticedAt - kill.at <= COMMAND_TIMEOUT_MS, `noticed after ${noticedAt - kill.at} ms: ${line}`);
  }
  // ... and the first generation formed after each kill resumed from a complete checkpoint at or before it.
  const formed = output.lines.filter((l) => l.includes('"msg":"forming generation"'))
    .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { ts: string; from: string; iteration: number });
  for (const kill of kills) {
    const f = formed.find((x) => Date.parse(x.ts) > kill.at);
    assert.ok(f, `a generation was formed after the ${kill.role} was killed`);
    assert.match(f.from, /^checkpoints\/iter-\d{6}$/);
    assert.ok(f.iteration % 4 === 0 && f.iteration <= kill.iteration + 1, `resumed at ${f.iteration} after a kill at ${kill.iteration}`);
  }
  assert.ok(output.find(/^\[scheduler\] .*"msg":"run taken over from KV"/), 'the restarted scheduler resumed from KV');

  // Re-run iterations are recomputed, not recorded twice: one train record per iteration, in order.
  const train = (await readMetrics(path.join(runDir, 'metrics.jsonl'))).filter((r) => r.kind === 'train').map((r) => r.iteration);
  assert.deepEqual(train, Array.from({ length: 40 }, (_, i) => i + 1));

  const reference = await trainReference(cfg, path.join(root, 'reference'));
  const report = await diffCheckpoints(path.join(reference, 'checkpoints/iter-000040'), path.join(runDir, 'checkpoints/iter-000040'), { tolerance: 1e-5 });
  assert.equal(report.status, 'equal');
  assert.equal(report.maxAbsDiff, 0);

  const alive = everyPid.filter(isAlive);
  assert.deepEqual(alive, [], `processes left running: ${alive.join(', ')}`);
});
