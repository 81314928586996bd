// The control plane and the service processes: a real nats-server, a real generator and
// discriminator process (`gantry serve`), restored into generation 1 with one iteration applied.
//   1. commands on cmd.<role> (nats-cases.ts); the state is both services' weights, Adam state and
//      ledgers (streamed out over StreamWeights) and the generation each serves (ping)
//   2. a sample of the gRPC cases against the processes' own servers (nothing armed there)
//   3. a scheduler run, paused at an iteration: hostile control messages and heartbeats
//      (scheduler-cases.ts); the state is the run state in KV and the membership view; then
//      damaged run states of other runs in the KV bucket; then a real `stop` must find the
//      scheduler paused where it was
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandClient } from '../../services/control/commands.ts';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { Membership } from '../../services/control/heartbeat.ts';
import { encodeMessage } from '../../services/control/messages.ts';
import { configHash } from '../../services/control/run-config.ts';
import { RunStateStore } from '../../services/control/run-state.ts';
import { RUNS_BUCKET, runSubjects } from '../../services/control/subjects.ts';
import { schedulerConfigSchema } from '../../services/scheduler/config.ts';
import { Scheduler } from '../../services/scheduler/scheduler.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import type { RpcClient } from '../../services/wire/client.ts';
import { DiscriminatorClient } from '../../services/wire/discriminator-client.ts';
import { GeneratorClient } from '../../services/wire/generator-client.ts';
import { DISCRIMINATOR_SERVICE, GENERATOR_SERVICE } from '../../services/wire/proto.ts';
import { quietLog, startServices, tinyGanConfig } from '../harness/cluster.ts';
import { isAlive, startTestNats, tempDir, waitFor } from '../harness/nats.ts';
import { snapshotHash } from '../harness/state-hash.ts';
import { grpcCases } from './grpc-cases.ts';
import { servingHealth } from './grpc-inprocess.ts';
import { commandCases } from './nats-cases.ts';
import { RawClient } from './raw-grpc.ts';
import { runStateCases, schedulerCases } from './scheduler-cases.ts';
import type { Tally, Target } from './tally.ts';

const RUN = 'hostile';

export async function runControlPlane(tally: Tally, seed: number): Promise<{ stoppedAt: number; pausedAt: number; status: string }> {
  const nats = await startTestNats();
  const root = await tempDir('gantry-hostile-');
  const runDir = path.join(root, 'run');
  await fsp.mkdir(runDir);
  let nc: NatsConnection | undefined;
  const services = await startServices(nats.url, RUN);
  const raw = new RawClient();
  const health = new Map<string, RpcClient>();
  const g = new GeneratorClient(services.grpc.generator, { deadlineMs: 15_000 });
  const d = new DiscriminatorClient(services.grpc.discriminator, { deadlineMs: 15_000 });
  try {
    nc = await connectNats(nats.url, { name: 'hostile', log: quietLog });
    const subjects = runSubjects(RUN);
    const commands = new CommandClient(nc, subjects);
    const train = tinyGanConfig({ out: runDir, iterations: 200, checkpointEvery: 100, sampleEvery: 100 });
    const k = train.dSteps;
    const restore = { type: 'restore' as const, run: RUN, generation: 1, iteration: 0, config: train as Record<string, unknown>, configHash: configHash(train), checkpoint: null };
    for (const role of ['generator', 'discriminator'] as const) await commands.send(role, restore, 60_000);
    await commands.send('discriminator', { type: 'd-step', run: RUN, generation: 1, iteration: 0, step: 0 }, 30_000);
    await commands.send('generator', { type: 'g-step', run: RUN, generation: 1, iteration: 0, step: k }, 30_000);

    const pids = [services.generator.pid!, services.discriminator.pid!];
    const alive = async (): Promise<string | undefined> => {
      const dead = pids.find((pid) => !isAlive(pid));
      if (dead !== undefined) return `process ${dead} exited`;
      return servingHealth([[services.grpc.generator, GENERATOR_SERVICE], [services.grpc.discriminator, DISCRIMINATOR_SERVICE]], health);
    };
    const weightsHash = async (): Promise<string> => {
      const [gw, dw] = [await g.streamWeights(), await d.streamWeights()];
      return `${snapshotHash(gw.snapshot, gw.lastAppliedIteration)}/${snapshotHash(dw.snapshot, dw.lastApplied)}`;
    };
    const services_: Target = {
      stateHash: async () => {
        const pings = await Promise.all((['generator', 'discriminator'] as const).map((r) => commands.send(r, { type: 'ping', run: RUN }, 10_000)));
        return `${await weightsHash()}/${pings.map((p) => `${p.instance}@${p.generation}`).join(',')}`;
      },
      health: alive,
    };
    // 1. commands
    await tally.runAll('nats commands (service processes)', services_, commandCases({ nc, subjects, run: RUN, generation: 1, applied: 1, k, train }, seed), 8);

    // 2. gRPC against the processes: every fourth case of the in-process families (nothing is armed here).
    const fake = await g.generate({ runId: RUN, iteration: 0, step: 0 }, train.batchSize);
    const grpc = grpcCases({
      gen: services.grpc.generator, disc: services.grpc.discriminator, runId: RUN, B: train.batchSize, k, fake,
      weights: async (role) => (role === 'generator'
        ? await g.streamWeights().then((w) => ({ snapshot: w.snapshot, lastApplied: { iteration: w.lastAppliedIteration, step: -1 } }))
        : await d.streamWeights()),
    }, raw, seed + 1).filter((_, i) => i % 4 === 0);
    await tally.runAll('grpc (service processes)', { stateHash: weightsHash, health: alive }, grpc, 8);

    // 3. a paused scheduler
    const cfg = schedulerConfigSchema.parse({
      natsUrl: nats.url, runId: RUN, runDir, generatorAddr: services.grpc.generator, discriminatorAddr: services.grpc.discriminator,
      commandTimeoutMs: 10_000, livenessMs: 5_000, recoveryTimeoutMs: 30_000, progress: false,
    });
    const stop = new AbortController();
    const outcome = new Scheduler(nc, cfg, train, quietLog, createSchedulerMetrics()).run(stop.signal);
    const store = await RunStateStore.open(nc);
    await waitFor(async () => ((await store.get(RUN))?.state.iteration ?? 0) >= 2, 'the scheduled run to pass iteration 2', 60_000, 20);
    nc.publish(subjects.control, encodeMessage({ type: 'pause', run: RUN }));
    await waitFor(async () => (await store.get(RUN))?.state.status === 'paused', 'the run to pause', 30_000, 20);
    const pausedAt = (await store.get(RUN))!.state.iteration;
    const members = new Membership(nc, subjects, quietLog).start();
    await waitFor(() => members.get('generator') !== undefined && members.get('discriminator') !== undefined, 'heartbeats of both services', 10_000);
    const view = (): string => JSON.stringify(['generator', 'discriminator', 'scheduler'].map((r) => {
      const m = members.get(r as 'generator');
      return m && { role: m.hb.role, run: m.hb.run, instance: m.hb.instance, ready: m.hb.ready, generation: m.hb.generation };
    }));
    const scheduler: Target = {
      stateHash: async () => {
        const v = (await store.get(RUN))!;
        return JSON.stringify({ revision: v.revision, status: v.state.status, iteration: v.state.iteration, generation: v.state.generation, view: view() });
      },
      health: alive,
    };
    // Each role's own latest heartbeat is the base its hostile variants are made from.
    const real = Object.fromEntries((['generator', 'discriminator'] as const).map((r) => [r, { ...members.get(r)!.hb, ts: new Date().toISOString() }]));
    await tally.runAll('nats control and heartbeats (scheduler)', scheduler, schedulerCases(nc, subjects, RUN, real, seed + 2));
    // The run state bucket: damaged entries of other runs; the real run's entry is the state.
    const kv = await new Kvm(nc).open(RUNS_BUCKET);
    const valid = (await store.get(RUN))!.state as unknown as Record<string, unknown>;
    await tally.runAll('nats kv run state (RunStateStore)', scheduler,
      runStateCases(async (key, value) => { await kv.put(key, value); }, (key) => store.get(key), valid));
    members.stop();
    nc.publish(subjects.control, encodeMessage({ type: 'stop', run: RUN, reason: 'end of the hostile suite' }));
    const end = await outcome;
    return { stoppedAt: end.iteration, pausedAt, status: end.status };
  } finally {
    raw.close();
    for (const c of health.values()) c.close();
    g.close();
    d.close();
    await closeNats(nc);
    await services.stop();
    await nats.stop();
    await fsp.rm(root, { recursive: true, force: true });
  }
}
