// Real generator and discriminator processes driven over NATS: first by the test itself (command
// validation, idempotent retries, generation fencing, checkpoints and restores through gRPC); then by a
// scheduler that `gantry run` pauses, resumes and stops while `gantry status` reports it; then by
// two schedulers in turn (the first resumes the stopped run from KV, the second takes it over and
// the first must stop). The final weights must equal an uninterrupted in-process run's.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient } from '../../services/control/commands.ts';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { CommandFailed } from '../../services/control/errors.ts';
import { decodeMessage, encodeMessage, errorReplySchema } from '../../services/control/messages.ts';
import { configHash } from '../../services/control/run-config.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { schedulerConfigSchema } from '../../services/scheduler/config.ts';
import { Scheduler } from '../../services/scheduler/scheduler.ts';
import { register as registerRun } from '../../services/cli/commands/run.ts';
import { register as registerStatus } from '../../services/cli/commands/status.ts';
import { CheckFailed, UsageError } from '../../services/cli/errors.ts';
import { Command } from 'commander';
import * as grpc from '@grpc/grpc-js';
import { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { GeneratorClient } from '../../services/wire/generator-client.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import { metricsPortOf, quietLog, scrapeGauge, startServices, type Services, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';

const RUN = 'svc';
let nats: TestNats;
let nc: NatsConnection;
let services: Services;
let root: string;
let runDir: string;

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-control-services-');
  runDir = path.join(root, 'run');
  await fsp.mkdir(runDir);
  services = await startServices(nats.url, RUN);
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
});
after(async () => {
  await closeNats(nc);
  await services?.stop();
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

describe('service commands', () => {
  const client = (): CommandClient => new CommandClient(nc, runSubjects(RUN));
  const train = (): ReturnType<typeof tinyGanConfig> => tinyGanConfig({ out: runDir, iterations: 4 });
  const restore = (generation: number, checkpoint: { iteration: number; path: string } | null = null) => ({
    type: 'restore' as const, run: RUN, generation, iteration: checkpoint?.iteration ?? 0,
    config: train() as Record<string, unknown>, configHash: configHash(train()), checkpoint,
  });
  const failsWith = (code: string, field?: string) => (err: unknown): boolean => {
    assert.ok(err instanceof CommandFailed, String(err));
    assert.equal(err.code, code, err.message);
    if (field !== undefined) assert.equal(err.details.field, field, err.message);
    return true;
  };

  it('refuses steps before the first restore and restores with a bad hash', async () => {
    await assert.rejects(client().send('discriminator', { type: 'd-step', run: RUN, generation: 1, iteration: 0, step: 0 }, 15_000), failsWith('not-ready'));
    await assert.rejects(client().send('generator', { ...restore(1), configHash: 'f'.repeat(64) }, 15_000), failsWith('bad-request', 'configHash'));
    await assert.rejects(client().send('generator', { ...restore(1), config: { ...train(), batchSize: 0 } }, 15_000), failsWith('bad-request', 'config'));
  });

  it('runs a D-step and a G-step and answers a retry from the cache without applying it twice', async () => {
    for (const role of ['generator', 'discriminator'] as const) await client().send(role, restore(1), 30_000);
    const d = { type: 'd-step' as const, run: RUN, generation: 1, iteration: 0, step: 0 };
    const first = await client().send('discriminator', d, 15_000);
    const retry = await client().send('discriminator', d, 15_000);
    assert.equal(first.metrics.applied, true);
    assert.deepEqual(retry.metrics, { ...first.metrics, applied: false });
    const g = { type: 'g-step' as const, run: RUN, generation: 1, iteration: 0, step: 1 };
    const gFirst = await client().send('generator', g, 15_000);
    const gRetry = await client().send('generator', g, 15_000);
    assert.equal(gFirst.metrics.applied, true);
    assert.ok(Number.isFinite(gFirst.metrics.lossG) && gFirst.metrics.gradNorm > 0);
    assert.deepEqual(gRetry.metrics, { ...gFirst.metrics, applied: false });
  });

  it('keeps the tensor count flat across steps (no leaked tensors in the services)', async () => {
    const ports = (['generator', 'discriminator'] as const).map((role) => metricsPortOf(services.output, role));
    const count = (): Promise<number[]> => Promise.all(ports.map((p) => scrapeGauge(p, 'gantry_tfjs_tensors')));
    const step = async (t: number): Promise<void> => {
      await client().send('discriminator', { type: 'd-step', run: RUN, generation: 1, iteration: t, step: 0 }, 15_000);
      await client().send('generator', { type: 'g-step', run: RUN, generation: 1, iteration: t, step: 1 }, 15_000);
    };
    await step(1);
    const before = await count();
    for (let t = 2; t < 5; t++) await step(t);
    assert.deepEqual(await count(), before);
    assert.ok(before.every((n) => n > 0), `the models hold tensors: ${before.join(', ')}`);
  });

  it('fences commands by generation and names bad fields', async () => {
    await assert.rejects(client().send('discriminator', { type: 'd-step', run: RUN, generation: 2, iteration: 1, step: 0 }, 15_000), failsWith('stale-generation', 'generation'));
    await assert.rejects(client().send('generator', restore(0), 15_000), failsWith('stale-generation', 'generation'));
    await assert.rejects(client().send('generator', { type: 'g-step', run: RUN, generation: 1, iteration: 1, step: 0 }, 15_000), failsWith('bad-request', 'step'));
    await assert.rejects(client().send('generator', { type: 'd-step', run: RUN, generation: 1, iteration: 1, step: 0 }, 15_000), failsWith('bad-request', 'type'));
    const raw = await nc.request(runSubjects(RUN).cmd('generator'), encodeMessage({ type: 'g-step', run: RUN, generation: 1, iteration: 'one', step: 1 }), { timeout: 5_000 });
    const reply = decodeMessage(errorReplySchema, raw.data, 'reply');
    assert.equal(reply.error.field, 'iteration');
    assert.match(reply.error.message, /iteration.*"one"/);
  });

  it('checkpoints and restores through gRPC only: a restore arms LoadWeights and nothing runs until the snapshot is in', async () => {
    // Iterations 0..4 are applied above: checkpoint 5 is what both can give.
    await assert.rejects(client().send('generator', { type: 'checkpoint', run: RUN, generation: 1, iteration: 4 }, 15_000), failsWith('bad-request', 'iteration'));
    for (const role of ['generator', 'discriminator'] as const) {
      assert.equal((await client().send(role, { type: 'checkpoint', run: RUN, generation: 1, iteration: 5 }, 15_000)).iteration, 5);
    }
    const g = new GeneratorClient(services.grpc.generator, { deadlineMs: 15_000 });
    const d = new DiscriminatorClient(services.grpc.discriminator, { deadlineMs: 15_000 });
    try {
      const [gw, dw] = [await g.streamWeights(), await d.streamWeights()];
      assert.equal(gw.lastAppliedIteration, 4);
      assert.deepEqual(dw.lastApplied, { iteration: 4, step: 0 });
      const ref = { iteration: 5, path: 'checkpoints/iter-000005' };
      for (const role of ['generator', 'discriminator'] as const) assert.equal((await client().send(role, restore(2, ref), 30_000)).iteration, 5);
      // Seeded init weights are in place, but nothing runs on them.
      await assert.rejects(client().send('discriminator', { type: 'd-step', run: RUN, generation: 2, iteration: 5, step: 0 }, 15_000), failsWith('not-ready'));
      await assert.rejects(client().send('generator', { type: 'sample', run: RUN, generation: 2, iteration: 5 }, 15_000), failsWith('not-ready'));
      // Another progress than the checkpoint's is refused, and a damaged snapshot changes nothing.
      await assert.rejects(d.loadWeights({ ...dw, lastApplied: { iteration: 3, step: 0 } }), (err: unknown) => err instanceof PeerError && err.remoteName === 'StepNotArmedError');
      const damaged = { ...dw.snapshot, tensors: dw.snapshot.tensors.slice(1) };
      await assert.rejects(d.loadWeights({ ...dw, snapshot: damaged }), (err: unknown) => err instanceof PeerError && err.code === grpc.status.INVALID_ARGUMENT);
      await assert.rejects(client().send('discriminator', { type: 'd-step', run: RUN, generation: 2, iteration: 5, step: 0 }, 15_000), failsWith('not-ready'));
      await d.loadWeights(dw);
      await g.loadWeights(gw);
      await assert.rejects(d.loadWeights(dw), (err: unknown) => err instanceof PeerError && err.remoteName === 'StepNotArmedError', 'armed once');
      const step = await client().send('discriminator', { type: 'd-step', run: RUN, generation: 2, iteration: 5, step: 0 }, 15_000);
      assert.equal(step.metrics.applied, true);
      const sample = await client().send('generator', { type: 'sample', run: RUN, generation: 2, iteration: 5 }, 15_000);
      assert.deepEqual([...Buffer.from(sample.pngBase64, 'base64').subarray(1, 4)], [0x50, 0x4e, 0x47], 'PNG bytes');
      assert.deepEqual(await fsp.readdir(runDir), [], 'the services wrote nothing into the run directory');
    } finally {
      g.close();
      d.close();
    }
  });
});

/** Runs `gantry <args>` in this process through the command modules; returns its stdout. */
async function gantry(...args: string[]): Promise<string> {
  const program = new Command('gantry').exitOverride();
  registerStatus(program);
  registerRun(program);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => { out += chunk.toString(); return true; }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'gantry', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

describe('a distributed run, controlled and taken over', () => {
  const train = (): ReturnType<typeof tinyGanConfig> => tinyGanConfig({ out: runDir, iterations: 30, checkpointEvery: 5, sampleEvery: 15 });
  const schedulerConfig = () => schedulerConfigSchema.parse({
    natsUrl: nats.url, runId: RUN, runDir, generatorAddr: services.grpc.generator, discriminatorAddr: services.grpc.discriminator, commandTimeoutMs: 5_000, livenessMs: 2_000, recoveryTimeoutMs: 20_000, progress: false,
  });
  const scheduler = () => new Scheduler(nc, schedulerConfig(), train(), quietLog, createSchedulerMetrics()).run(new AbortController().signal);

  before(async () => {
    await fsp.rm(runDir, { recursive: true, force: true }); // the commands above wrote into it
    await fsp.mkdir(runDir);
  });

  it('gantry status shows the run and its members; gantry run pauses, resumes and stops it', async () => {
    const outcome = scheduler();
    const store = await RunStateStore.open(nc);
    await waitFor(async () => ((await store.get(RUN))?.state.iteration ?? 0) >= 3, 'the run to pass iteration 3', 20_000, 5);
    assert.match(await gantry('run', 'pause', '--nats', nats.url, '--run', RUN), /svc: paused at iteration \d+/);

    const text = await gantry('status', '--nats', nats.url, '--listen-ms', '700');
    assert.match(text, /^run +svc$/m);
    assert.match(text, /^status +paused$/m);
    assert.match(text, /^iteration +\d+ \/ 30$/m);
    assert.match(text, /^ +generator +ready +generation \d+/m);
    assert.match(text, /^ +discriminator +ready +generation \d+/m);
    const paused = JSON.parse(await gantry('status', '--nats', nats.url, '--run', RUN, '--json', '--listen-ms', '0')) as { state: { iteration: number } };
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await store.get(RUN))?.state.iteration, paused.state.iteration, 'no iteration runs while paused');

    assert.match(await gantry('run', 'resume', '--nats', nats.url), /svc: running/);
    await gantry('run', 'pause', '--nats', nats.url);
    assert.match(await gantry('run', 'stop', '--nats', nats.url, '--reason', 'test'), /svc: stopped at iteration \d+/);
    const end = await outcome;
    assert.equal(end.status, 'stopped');
    assert.ok(end.iteration > 3 && end.iteration < 30, `stopped at ${end.iteration}`);
    assert.equal(end.lastCheckpoint?.iteration, end.iteration, 'stop writes a final checkpoint');

    await assert.rejects(gantry('run', 'stop', '--nats', nats.url, '--run', 'no-such-run'), (err: unknown) => err instanceof CheckFailed && /no run "no-such-run"/.test(err.message));
    await assert.rejects(gantry('status', '--nats', 'http://x'), (err: unknown) => err instanceof UsageError && /--nats/.test(err.message));
  });

  it('resumes the stopped run from KV; a second scheduler takes it over and the first stops; weights equal the in-process run', async () => {
    const store = await RunStateStore.open(nc);
    const before = (await store.get(RUN))!.state;
    const first = scheduler();
    await waitFor(async () => ((await store.get(RUN))?.state.iteration ?? 0) >= Math.max(12, before.iteration + 3), 'the first scheduler to advance', 20_000, 5);
    // Park the first scheduler between iterations, so the second surely takes over before the
    // first could finish the run on its own (on a loaded machine it otherwise might).
    await gantry('run', 'pause', '--nats', nats.url, '--run', RUN);
    const taken = (await store.get(RUN))!.state;
    const b = await scheduler();
    assert.equal(b.status, 'completed');
    // Woken up, the first finds itself fenced out: it must not advance the run again.
    nc.publish(runSubjects(RUN).control, encodeMessage({ type: 'resume', run: RUN }));
    const a = await first;
    assert.equal(a.status, 'superseded');
    const end = (await store.get(RUN))!.state;
    assert.equal(end.status, 'completed');
    assert.equal(end.iteration, 30);
    assert.ok(end.generation > taken.generation && taken.generation > before.generation, `generations ${before.generation} < ${taken.generation} < ${end.generation}`);
    assert.deepEqual(end.lastCheckpoint, { iteration: 30, path: 'checkpoints/iter-000030' });

    const reference = await trainReference(train(), path.join(root, 'reference'));
    const report = await diffCheckpoints(path.join(reference, 'checkpoints/iter-000030'), path.join(runDir, 'checkpoints/iter-000030'), { tolerance: 1e-5 });
    assert.equal(report.status, 'equal');
    assert.equal(report.maxAbsDiff, 0);
  });
});
