// One worker process (`gantry serve worker`) against a real nats-server, driven by the scheduler's
// WorkerCommands client and the WorkerService gRPC client: registration and leave in KV, the
// generation fence, idempotent steps, rollback of an uncommitted step, and LoadWeights: atomic,
// and admitted only when the scheduler's `load` command armed it (once, for one progress).
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CommandFailed } from '../../services/control/errors.ts';
import { openWorkersBucket, WorkerRoster } from '../../services/control/worker-registry.ts';
import { ManagedChild } from '../../services/launcher/child.ts';
import { WorkerCommands } from '../../services/scheduler/worker-group.ts';
import { configHash } from '../../services/control/run-config.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { WorkerClient } from '../../services/wire/worker-client.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { GANTRY_BIN, LineSink, metricsPortOf, quietLog } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';

const RUN = 'worker-process';
let nats: TestNats;
let root: string;
let nc: NatsConnection;
let roster: WorkerRoster;
let worker: ManagedChild;
const output = new LineSink();

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-worker-process-');
  nc = await connect({ servers: nats.url });
  roster = await new WorkerRoster(await openWorkersBucket(nc), RUN, quietLog).start();
  worker = new ManagedChild({
    role: 'worker', command: process.execPath, args: [GANTRY_BIN, 'serve', 'worker'],
    env: { ...process.env, GANTRY_NATS_URL: nats.url, GANTRY_RUN_ID: RUN, GANTRY_RUN_DIR: root, GANTRY_GRPC_PORT: '0', GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' },
  }, output, () => undefined);
  worker.start();
  await output.waitFor(/^\[worker\] .*"msg":"ready"/, 60_000);
});
after(async () => {
  await worker?.stop(3_000);
  roster?.stop();
  await nc?.close();
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

const cfg = classifierTrainSchema.parse({ preset: 'quick', validationSize: 1000, batchSize: 16, seed: 3, out: 'unused' });
const prepare = (generation: number, step: number) => ({
  type: 'prepare' as const, run: RUN, generation, step, config: cfg as unknown as Record<string, unknown>, configHash: configHash(cfg),
});
const join = (generation: number, key: string, addr: string, step = 0, source: 'init' | 'peer' | 'have' = 'init') => ({
  type: 'join' as const, run: RUN, generation, step, rank: 0, members: [{ rank: 0, key, host: 'h', addr }], source,
  config: cfg as unknown as Record<string, unknown>, configHash: configHash(cfg),
});

test('a worker registers, is fenced by generation, steps idempotently, rolls back, and loads weights atomically', async () => {
  await roster.waitUntil(() => roster.live(2_000).length === 1, 10_000);
  const [w] = roster.live(2_000);
  assert.equal(w.reg.ready, true);
  assert.equal(w.reg.applied, null, 'no model before the first join');
  const { key, addr } = w.reg;
  const cmds = new WorkerCommands(nc, RUN, 'gantry');

  // The fence: nothing before prepare; a join must match the prepared generation.
  await assert.rejects(cmds.send(key, join(1, key, addr), 60_000), (e: CommandFailed) => e.code === 'stale-generation');
  assert.deepEqual(await cmds.send(key, prepare(1, 0), 60_000), { ok: true, atStep: true, applied: 0 }, 'the seeded initial weights are step 0');
  const joined = await cmds.send(key, join(1, key, addr), 60_000);
  assert.equal(joined.applied, 0);
  await assert.rejects(cmds.send(key, { type: 'step', run: RUN, generation: 2, step: 0 }, 10_000), (e: CommandFailed) => e.code === 'stale-generation');

  // Steps: a retried step answers from the cache and changes nothing.
  const s0 = await cmds.send(key, { type: 'step', run: RUN, generation: 1, step: 0 }, 60_000);
  assert.equal(s0.applied, true);
  assert.equal(s0.images, 16);
  const h1 = await cmds.send(key, { type: 'hash', run: RUN, generation: 1 }, 10_000);
  const again = await cmds.send(key, { type: 'step', run: RUN, generation: 1, step: 0 }, 60_000);
  assert.equal(again.applied, false);
  assert.equal(again.loss, s0.loss);
  assert.deepEqual(await cmds.send(key, { type: 'hash', run: RUN, generation: 1 }, 10_000), h1);
  await assert.rejects(cmds.send(key, { type: 'step', run: RUN, generation: 1, step: 5 }, 10_000), (e: CommandFailed) => /holds 1 steps/.test(e.message));

  // An uncommitted step is rolled back by the next generation's prepare.
  await cmds.send(key, { type: 'step', run: RUN, generation: 1, step: 1 }, 60_000);
  const p2 = await cmds.send(key, prepare(2, 1), 10_000);
  assert.deepEqual(p2, { ok: true, atStep: true, applied: 1 });
  const j2 = await cmds.send(key, join(2, key, addr, 1, 'have'), 60_000);
  assert.equal(j2.weightsHash, h1.weightsHash, 'back to the state after step 0, bit for bit');
  await assert.rejects(cmds.send(key, prepare(1, 0), 10_000), (e: CommandFailed) => e.code === 'stale-generation');

  // Weights over gRPC: LoadWeights admits exactly the snapshot the scheduler's `load` command
  // armed, once; anything else is FAILED_PRECONDITION and a refused snapshot changes nothing.
  const client = new WorkerClient(addr, { deadlineMs: 30_000 });
  const weightsHash = async (): Promise<string> => (await cmds.send(key, { type: 'hash', run: RUN, generation: 2 }, 10_000)).weightsHash;
  const notArmed = (expected: RegExp) => (e: PeerError): boolean => e.codeName === 'FAILED_PRECONDITION' && expected.test(e.message);
  try {
    const state = await client.streamWeights();
    assert.equal(state.lastApplied.iteration, 0);
    const foreign = structuredClone(state);
    foreign.snapshot.tensors[0].data.fill(7); // well-formed: it would land if admitted
    await assert.rejects(client.loadWeights(foreign), notArmed(/expected none: no step has been commanded/));
    assert.equal(await weightsHash(), h1.weightsHash, 'a foreign snapshot changes nothing');

    await assert.rejects(cmds.send(key, { type: 'load', run: RUN, generation: 1, step: 1 }, 10_000), (e: CommandFailed) => e.code === 'stale-generation');
    assert.deepEqual(await cmds.send(key, { type: 'load', run: RUN, generation: 2, step: 5 }, 10_000), { ok: true });
    await assert.rejects(client.loadWeights(foreign), notArmed(/\(iteration 0, step 0\) refused.*expected \(iteration 4, step 0\) of generation 2/));
    assert.equal(await weightsHash(), h1.weightsHash, 'a snapshot of other progress than the armed one changes nothing');

    assert.deepEqual(await cmds.send(key, { type: 'load', run: RUN, generation: 2, step: 1 }, 10_000), { ok: true });
    const bad = structuredClone(state);
    bad.snapshot.optimizer.slots.pop(); // the last Adam slot is missing
    bad.snapshot.tensors[0].data.fill(7); // and the first tensor was changed: neither may land
    await assert.rejects(client.loadWeights(bad), (e: PeerError) => e.codeName === 'INVALID_ARGUMENT');
    assert.equal(await weightsHash(), h1.weightsHash, 'a rejected snapshot changes nothing');
    await client.loadWeights(foreign); // the armed load, still armed after the damaged one
    assert.notEqual(await weightsHash(), h1.weightsHash, 'the armed snapshot landed');
    await assert.rejects(client.loadWeights(state), notArmed(/already applied/));
    assert.deepEqual(await cmds.send(key, { type: 'load', run: RUN, generation: 2, step: 1 }, 10_000), { ok: true });
    await client.loadWeights(state);
    assert.equal(await weightsHash(), h1.weightsHash, 'the state after step 0 again, bit for bit');
  } finally {
    client.close();
  }

  // /metrics: images by rank, the generation.
  const page = await (await fetch(`http://127.0.0.1:${metricsPortOf(output, 'worker')}/metrics`)).text();
  // setRank relabels every series of the page with the rank of the generation joined.
  assert.match(page, /^gantry_worker_images_total\{role="worker",rank="0"\} 32$/m);
  assert.match(page, /^gantry_generation\{role="worker",rank="0"\} 2$/m);
  assert.match(page, /^gantry_membership_changes_total\{kind="leave",role="worker",rank="0"\} 0$/m);

  // A clean exit deletes the registration: a leave, not a silence.
  await worker.stop(5_000);
  await waitFor(() => roster.get(key) === undefined, 'the registration to be deleted');
  assert.deepEqual(roster.takeLeft(), [key]);
});
