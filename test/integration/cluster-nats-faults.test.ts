// Faults that must heal without help and without blaming a service (issue 19, part 3):
//   - kill -9 of nats-server: the launcher restarts it on the same port with its JetStream store
//     (RUN_DIR/.cluster/nats), every process reconnects, and the run completes with exactly the
//     in-process trainer's weights, no service restarted;
//   - SIGSTOP of nats-server, or of the scheduler, for 10 s (longer than the liveness window and
//     the command deadline): nobody is called dead, no generation is re-formed (no rollback), and
//     the weights are again exactly the reference's; the launcher names the stalled nats-server.
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { type ClusterEvent, type ClusterSummary, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import type { MemberRole } from '../../services/control/subjects.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { createLogger } from '../../services/telemetry/log.ts';
import { echoOnFailure, LineSink, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { isAlive, tempDir } from '../harness/nats.ts';

const ITERATIONS = 30;
const STOP_MS = 10_000;
let root: string;
let reference: string;

before(async () => {
  root = await tempDir('gantry-nats-faults-');
  reference = await trainReference(tinyGanConfig({ out: path.join(root, 'unused'), iterations: ITERATIONS }), path.join(root, 'reference'));
});
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

type Victim = MemberRole | 'nats';

interface Faulted { summary: ClusterSummary; output: LineSink; runDir: string; pids: number[]; faultedAt: number }

/** A cluster run that applies `fault` to `victim` once the run is past iteration 5. */
async function runWithFault(name: string, victim: Victim, fault: (pid: number) => Promise<void>): Promise<Faulted> {
  const runDir = path.join(root, name);
  const cfg = tinyGanConfig({ out: runDir, iterations: ITERATIONS, checkpointEvery: 5 });
  const output = new LineSink();
  const pids: number[] = [];
  const current = new Map<Victim, number>();
  let faulted: Promise<void> | undefined;
  let faultedAt = 0;
  const onEvent = (e: ClusterEvent): void => {
    if (e.type === 'spawn' || e.type === 'nats') pids.push(e.pid);
    if (e.type === 'spawn') current.set(e.role, e.pid);
    if (e.type === 'nats') current.set('nats', e.pid);
    if (e.type === 'progress' && e.status === 'running' && e.iteration >= 5 && !faulted) {
      faultedAt = Date.now();
      faulted = fault(current.get(victim)!);
    }
  };
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const summary = await echoOnFailure(output, runLocalCluster(cfg, {
    // The launcher's own warnings go with the children's lines (it names a stalled nats-server).
    log: createLogger({ component: 'launcher', format: 'json', level: 'warn', stream: output }), output, progress: false, handleSignals: false, onEvent,
    env: {
      generator: common, discriminator: common,
      scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: '3000', GANTRY_LIVENESS_MS: '2000', GANTRY_RECOVERY_TIMEOUT_MS: '30000' },
    },
  }));
  await faulted;
  assert.ok(faulted, 'the fault was applied mid-run');
  return { summary, output, runDir, pids, faultedAt };
}

async function assertHealed(r: Faulted): Promise<void> {
  assert.equal(r.summary.status, 'completed');
  assert.equal(r.summary.iterations, ITERATIONS);
  assert.deepEqual(r.summary.restarts, { generator: 0, discriminator: 0, scheduler: 0 }, 'no process but the faulted one was restarted');
  assert.equal(r.output.find(/is dead/), undefined, 'nobody was called dead');
  const final = `checkpoints/iter-${String(ITERATIONS).padStart(6, '0')}`;
  const diff = await diffCheckpoints(path.join(reference, final), path.join(r.runDir, final), { tolerance: 0 });
  assert.equal(diff.status, 'equal');
  assert.equal(diff.maxAbsDiff, 0);
  assert.equal(existsSync(path.join(r.runDir, '.cluster')), false, 'the launcher removed its files');
  assert.deepEqual(r.pids.filter(isAlive), [], 'no process outlives the launcher');
}

function generationsFormed(output: LineSink): number {
  return output.count(/^\[scheduler\] .*"msg":"forming generation"/);
}

async function stopFor(pid: number, group: boolean): Promise<void> {
  const target = group ? -pid : pid;
  process.kill(target, 'SIGSTOP');
  await new Promise((r) => setTimeout(r, STOP_MS));
  process.kill(target, 'SIGCONT');
}

it('kill -9 of nats-server: restarted on its port with its store, the run completes with the reference weights', async () => {
  const r = await runWithFault('nats-kill', 'nats', async (pid) => { process.kill(-pid, 'SIGKILL'); });
  assert.equal(r.summary.natsRestarts, 1);
  await assertHealed(r);
  assert.ok(r.output.find(/^\[scheduler\] .*reconnected to NATS/), 'the scheduler reconnected');
});

it('SIGSTOP of nats-server for 10 s: no service blamed, no rollback', async () => {
  const r = await runWithFault('nats-stop', 'nats', (pid) => stopFor(pid, true));
  assert.equal(r.summary.natsRestarts, 0);
  assert.ok(r.output.find(/"msg":"NATS does not answer a PING/), 'the launcher named the stalled nats-server');
  await assertHealed(r);
  assert.equal(generationsFormed(r.output), 1, 'one generation: the run never rolled back');
});

it('SIGSTOP of the scheduler for 10 s: no service blamed, no rollback', async () => {
  const r = await runWithFault('scheduler-stop', 'scheduler', (pid) => stopFor(pid, false));
  await assertHealed(r);
  assert.equal(generationsFormed(r.output), 1, 'one generation: the run never rolled back');
  assert.ok(r.output.find(/^\[scheduler\] .*the scheduler itself did not run for/), 'the scheduler saw its own stall');
});
