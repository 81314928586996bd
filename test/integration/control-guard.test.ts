// Only the run's scheduler moves the weights, with real service processes on a real nats-server:
// a foreign gRPC client's well-formed far-future TrainStep, ApplyUpstreamGradient or LoadWeights
// is refused with FAILED_PRECONDITION naming the step the scheduler commanded, and the services'
// whole state (streamed out over the read-only StreamWeights) is unchanged; and a scheduler whose
// step is answered applied=false (the weights moved past it behind its back, here by a rogue
// NATS command) stops the run with a fault naming the role and the iteration, instead of
// training on frozen weights.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient } from '../../services/control/commands.ts';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { encodeMessage } from '../../services/control/messages.ts';
import { configHash } from '../../services/control/run-config.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { schedulerConfigSchema } from '../../services/scheduler/config.ts';
import { Scheduler } from '../../services/scheduler/scheduler.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import { GeneratorClient } from '../../services/wire/generator-client.ts';
import { PeerError } from '../../services/wire/errors.ts';
import { quietLog, startServices, type Services, tinyGanConfig } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';
import { snapshotHash } from '../harness/state-hash.ts';

const RUN = 'guard';
let nats: TestNats;
let nc: NatsConnection;
let services: Services;
let root: string;
let runDir: string;

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-control-guard-');
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

const refused = (message: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof PeerError, String(err));
  assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.message);
  assert.equal(err.remoteName, 'StepNotArmedError');
  assert.match(err.details, message);
  return true;
};

it('service processes refuse foreign state-changing gRPC calls and keep their state', async () => {
  const train = tinyGanConfig({ out: runDir, iterations: 4 });
  const commands = new CommandClient(nc, runSubjects(RUN));
  const restore = { type: 'restore' as const, run: RUN, generation: 1, iteration: 0, config: train as Record<string, unknown>, configHash: configHash(train), checkpoint: null };
  for (const role of ['generator', 'discriminator'] as const) await commands.send(role, restore, 30_000);
  assert.equal((await commands.send('discriminator', { type: 'd-step', run: RUN, generation: 1, iteration: 0, step: 0 }, 15_000)).metrics.applied, true);
  assert.equal((await commands.send('generator', { type: 'g-step', run: RUN, generation: 1, iteration: 0, step: 1 }, 15_000)).metrics.applied, true);

  const d = new DiscriminatorClient(services.grpc.discriminator, { deadlineMs: 15_000 });
  const g = new GeneratorClient(services.grpc.generator, { deadlineMs: 15_000 });
  try {
    const [dw, gw] = [await d.streamWeights(), await g.streamWeights()];
    const [dHash, gHash] = [snapshotHash(dw.snapshot, dw.lastApplied), snapshotHash(gw.snapshot, gw.lastAppliedIteration)];
    const B = train.batchSize;
    // Read-only calls stay open: the foreign client gets a valid, in-range fake batch to send.
    const fake = await g.generate({ runId: RUN, iteration: 1_000_000, step: 0 }, B);
    await assert.rejects(d.trainStep({ runId: RUN, iteration: 1_000_000, step: 0 }, fake),
      refused(/^TrainStep for \(iteration 1000000, step 0\) refused: .*expected none: the last step commanded, \(iteration 0, step 0\) of generation 1, is computed by the discriminator itself$/));
    await assert.rejects(g.applyUpstream({ runId: RUN, iteration: 1_000_000, step: 1 }, new Float32Array(B * 784)),
      refused(/^ApplyUpstreamGradient for \(iteration 1000000, step 1\) refused: .*\(iteration 0, step 1\) of generation 1, is computed by the generator itself$/));
    await assert.rejects(d.loadWeights({ ...dw, lastApplied: { iteration: 1_000_000, step: 0 } }), refused(/^LoadWeights refused/));
    await assert.rejects(g.loadWeights({ ...gw, lastAppliedIteration: 1_000_000 }), refused(/^LoadWeights refused/));
    const [dAfter, gAfter] = [await d.streamWeights(), await g.streamWeights()];
    assert.equal(snapshotHash(dAfter.snapshot, dAfter.lastApplied), dHash);
    assert.equal(snapshotHash(gAfter.snapshot, gAfter.lastAppliedIteration), gHash);
  } finally {
    d.close();
    g.close();
  }
  // The scheduler's next steps are applied as if nothing had happened.
  assert.equal((await commands.send('discriminator', { type: 'd-step', run: RUN, generation: 1, iteration: 1, step: 0 }, 15_000)).metrics.applied, true);
  assert.equal((await commands.send('generator', { type: 'g-step', run: RUN, generation: 1, iteration: 1, step: 1 }, 15_000)).metrics.applied, true);
});

it('a step answered applied=false on its first attempt stops the run with a fault naming the role and iteration', async () => {
  const train = tinyGanConfig({ out: runDir, iterations: 200, checkpointEvery: 100, sampleEvery: 100 });
  const cfg = schedulerConfigSchema.parse({
    natsUrl: nats.url, runId: RUN, runDir, generatorAddr: services.grpc.generator, discriminatorAddr: services.grpc.discriminator, commandTimeoutMs: 5_000, livenessMs: 2_000, recoveryTimeoutMs: 20_000, progress: false,
  });
  const outcome = new Scheduler(nc, cfg, train, quietLog, createSchedulerMetrics()).run(new AbortController().signal);
  const store = await RunStateStore.open(nc);
  const subjects = runSubjects(RUN);
  await waitFor(async () => ((await store.get(RUN))?.state.iteration ?? 0) >= 3, 'the run to pass iteration 3', 30_000, 5);
  nc.publish(subjects.control, encodeMessage({ type: 'pause', run: RUN }));
  await waitFor(async () => (await store.get(RUN))?.state.status === 'paused', 'the run to pause', 20_000, 5);
  const { generation, iteration } = (await store.get(RUN))!.state;
  // A rogue control-plane client (NATS has no per-role credentials yet) moves D 50 iterations ahead.
  const rogue = await new CommandClient(nc, subjects).send('discriminator', { type: 'd-step', run: RUN, generation, iteration: iteration + 50, step: 0 }, 15_000);
  assert.equal(rogue.metrics.applied, true);
  nc.publish(subjects.control, encodeMessage({ type: 'resume', run: RUN }));
  const end = await outcome;
  assert.equal(end.status, 'failed');
  assert.equal(end.error?.code, 'unexpected-reply');
  assert.equal(end.error?.role, 'discriminator');
  assert.equal(end.error?.iteration, iteration);
  assert.match(end.error?.message ?? '', new RegExp(`discriminator answered step \\(iteration ${iteration}, step 0\\) unexpectedly: applied=false on the first attempt`));
  assert.equal((await store.get(RUN))?.state.status, 'failed');
});
