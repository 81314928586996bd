// The scheduler is the only writer of the run directory (no shared filesystem between pods): the
// generator and the discriminator run as another user (nobody) who cannot write anywhere in the
// run directory, nor in the classifier's, nor in their working directory, and are told no run
// directory at all. A distributed run with samples, checkpoints and an evaluation is stopped and
// resumed by a second scheduler (the restore streams the checkpoint back in over gRPC); it must
// complete, every file of the run directory must belong to the scheduler's user, and the final
// weights must equal the in-process trainer's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { encodeMessage } from '../../services/control/messages.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { initBackend } from '../../services/core/backend/select.ts';
import { discriminatorConfigSchema } from '../../services/discriminator/config.ts';
import { generatorConfigSchema } from '../../services/generator/config.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { schedulerConfigSchema } from '../../services/scheduler/config.ts';
import { Scheduler } from '../../services/scheduler/scheduler.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import { echoOnFailure, GANTRY_BIN, quietLog, startServices, type Services, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';
import { writeClassifierRun, writeTestSplit } from '../unit/eval-fixtures.ts';

const RUN = 'nofs';
const NOBODY = { uid: 65534, gid: 65534 };
const canDropPrivileges = process.getuid?.() === 0 && hasSetpriv();
const skip = !canDropPrivileges ? 'needs root and util-linux setpriv to run the services as another user'
  : !nobodyCanRead(GANTRY_BIN) ? `the checkout (${GANTRY_BIN}) is not readable by uid ${NOBODY.uid} (a private directory on its path), so the services cannot run as that user`
  : false;

let nats: TestNats;
let nc: NatsConnection;
let services: Services;
let root: string;
let runDir: string;
let classifier: string;

/** Whether `file` (and every directory above it) lets NOBODY read it. */
function nobodyCanRead(file: string): boolean {
  try {
    execFileSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups', '--', 'test', '-r', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function hasSetpriv(): boolean {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  if (skip) return;
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
  root = await tempDir('gantry-nofs-');
  await initBackend('wasm', quietLog); // the classifier fixture is built here
  const data = await writeTestSplit(path.join(root, 'data'), 40);
  classifier = (await writeClassifierRun(path.join(root, 'runs'), 'classifier', { startedAt: '2026-01-01T00:00:00.000Z', dataDir: data })).runDir;
  runDir = path.join(root, 'run');
  await fsp.mkdir(runDir);
  // Everything readable, nothing writable by nobody: the services can read the classifier and
  // the test split, and write nowhere here (mkdtemp made root 0700).
  execFileSync('chmod', ['-R', 'u=rwX,go=rX', root]);
  services = await startServices(nats.url, RUN, {}, { asUser: NOBODY });
});
after(async () => {
  if (skip) return;
  await closeNats(nc);
  await services?.stop();
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

it('the model services have no run-directory setting', () => {
  assert.ok(!('runDir' in generatorConfigSchema.shape));
  assert.ok(!('runDir' in discriminatorConfigSchema.shape));
  assert.ok('runDir' in schedulerConfigSchema.shape);
});

it('a run with samples, checkpoints, an evaluation and a resume: the scheduler writes every file', { skip }, async () => {
  const train = tinyGanConfig({ out: runDir, iterations: 16, checkpointEvery: 5, sampleEvery: 5, evalEvery: 10, evalSamples: 100, classifier });
  const schedulerConfig = schedulerConfigSchema.parse({
    natsUrl: nats.url, runId: RUN, runDir, generatorAddr: services.grpc.generator, discriminatorAddr: services.grpc.discriminator,
    commandTimeoutMs: 20_000, livenessMs: 5_000, recoveryTimeoutMs: 20_000, evalTimeoutMs: 120_000, progress: false,
  });
  const scheduler = () => new Scheduler(nc, schedulerConfig, train, quietLog, createSchedulerMetrics()).run(new AbortController().signal);
  for (const role of ['generator', 'discriminator'] as const) {
    const status = await fsp.readFile(`/proc/${services[role].pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s/m, `the ${role} runs as nobody`);
  }

  // First scheduler: stopped after the first checkpoint (stop writes a final checkpoint too).
  const store = await RunStateStore.open(nc);
  const first = scheduler();
  await waitFor(async () => ((await store.get(RUN))?.state.lastCheckpoint?.iteration ?? 0) >= 5, 'checkpoint 5', 60_000, 20);
  nc.publish(runSubjects(RUN).control, encodeMessage({ type: 'stop', run: RUN, reason: 'test' }));
  const a = await echoOnFailure(services.output, first);
  assert.equal(a.status, 'stopped');
  assert.ok(a.iteration >= 5 && a.iteration < 16, `stopped at ${a.iteration}`);

  // Second scheduler: restores both services from that checkpoint over gRPC and completes.
  const b = await echoOnFailure(services.output, scheduler());
  assert.equal(b.status, 'completed', JSON.stringify(b.error));
  assert.equal(b.iteration, 16);

  const records = await readMetrics(path.join(runDir, 'metrics.jsonl'));
  const evals = records.filter((r) => r.kind === 'eval');
  assert.deepEqual(evals.map((r) => r.iteration), [10]);
  assert.equal(typeof evals[0].mnistScore, 'number', 'the generator scored G (the reference statistics stayed uncached: it cannot write there)');
  const samples = (await fsp.readdir(path.join(runDir, 'samples'))).sort();
  assert.ok(samples.includes('iter-000005.png') && samples.includes('iter-000015.png') && samples.includes('iter-000016.png'), samples.join(', '));
  const png = await fsp.readFile(path.join(runDir, 'samples', 'iter-000015.png'));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);

  // Every file and directory of the run directory belongs to the scheduler's user (root).
  const entries = await fsp.readdir(runDir, { recursive: true });
  assert.ok(entries.some((e) => e.endsWith('generator.safetensors')) && entries.some((e) => e.endsWith('discriminator.optim.safetensors')));
  for (const e of entries) {
    const st = await fsp.stat(path.join(runDir, e));
    assert.equal(st.uid, 0, `${e} is owned by uid ${st.uid}`);
  }

  const reference = await trainReference(train, path.join(root, 'reference'));
  const report = await diffCheckpoints(path.join(reference, 'checkpoints/iter-000016'), path.join(runDir, 'checkpoints/iter-000016'), { tolerance: 1e-5 });
  assert.equal(report.status, 'equal', JSON.stringify(report).slice(0, 400));
});
