// The discriminator service: owns D, D's optimizer and the real data behind a DiscriminatorNode,
// serves DiscriminatorService.GeneratorGrad over gRPC (the generator's G-steps ask it for
// dL_G/dG(z')) and answers the scheduler's NATS commands. It mounts no run directory and writes
// no file (its data comes from the image or a read-only volume): the scheduler moves every
// snapshot over gRPC.
//   restore     build D from the seeded init and load the data; with a checkpoint, arm
//               LoadWeights for its progress (t_ckpt - 1, k - 1) and refuse every other command
//               until the scheduler has streamed the checkpoint's snapshot in (all or nothing)
//   d-step      (1) Update D on step (t, s): fake = G.Generate(t, s) over gRPC, real = its own
//               batch (t, s); minimise L_D(D(real), D(fake)) (for minimax: maximise
//               log D(x) + log(1 - D(G(z)))) and apply Adam
//   checkpoint  check D has applied exactly iterations 0..N-1 and answer the hash of its state; the
//               scheduler then pulls the snapshot with StreamWeights and writes
//               discriminator{,.optim}.safetensors itself
// As rank r of a replica group (GANTRY_DISCRIMINATOR_ADDRS; replicas.ts) every command comes to
// every rank: restore also forms the generation's ring; a D-step takes rows [r b, (r + 1) b) of
// the real batch (the seeded sampler's shard) and of G(z) (the whole batch from the generator,
// sliced here), and sums gradients and batch-norm moments over the ring.
//
// Test hooks (never set them in a real run): GANTRY_TEST_INJECT_NAN_AT=N multiplies the real
// batch of D-step (N, 0) by NaN, so the core raises NonFiniteError; GANTRY_TEST_EXIT_IN_CHECKPOINT_AT=N
// exits the process inside checkpoint N before answering (once per run id and launcher: a marker file in the
// OS temp directory, never in the run directory), leaving the scheduler's iter-N.partial behind.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../core/tf.ts';
import { DiscriminatorNode } from '../core/gan/discriminator-node.ts';
import type { CommandHandlers, ReplyBody } from '../control/commands.ts';
import { ServiceError } from '../control/errors.ts';
import type { CommandOf } from '../control/messages.ts';
import { NodeSlot } from '../control/node-slot.ts';
import { peerFailure } from '../control/peer-failure.ts';
import { configHash, parseTrainConfig } from '../control/run-config.ts';
import { runServiceProcess, type ServiceContext } from '../control/service-process.ts';
import type { ImageSet } from '../data/imageset.ts';
import { loadImageSet } from '../data/mnist.ts';
import type { Logger } from '../telemetry/log.ts';
import { toGanMathConfig } from '../train/config.ts';
import { createCollectiveMetrics } from '../telemetry/collective-metrics.ts';
import { GeneratorClient } from '../wire/generator-client.ts';
import { dataPlaneGates, type DataPlaneGates } from '../wire/step-gate.ts';
import type { DiscriminatorConfig } from './config.ts';
import { DiscriminatorGrpcService } from './grpc-service.ts';
import { asPeerFailure, DiscriminatorReplicas } from './replicas.ts';

export async function runDiscriminator(cfg: DiscriminatorConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const slot = new NodeSlot<DiscriminatorNode>('discriminator');
  // D-steps run here (d-step), so TrainStep is never armed; LoadWeights is armed by a `restore`
  // from a checkpoint, once, for that checkpoint's progress only.
  const gates = dataPlaneGates('discriminator', 'TrainStep');
  let generator: GeneratorClient | undefined;
  let replicas: DiscriminatorReplicas | undefined;
  const grouped = cfg.replicaAddrs !== undefined && cfg.replicaAddrs.length > 1;
  await runServiceProcess({
    role: 'discriminator',
    addGrpc: (server, ctx) => {
      if (grouped) {
        // In a group the rank is set (config.ts requires it).
        replicas = new DiscriminatorReplicas({
          runId: cfg.runId, rank: cfg.rank!, addresses: cfg.replicaAddrs!, timeoutMs: cfg.rpcTimeoutMs,
          metrics: createCollectiveMetrics(ctx.metrics.registry), log: ctx.log, tls: ctx.tls,
        });
        replicas.endpoint.addToServer(server); // the ring's inbound streams, for every generation
      }
      new DiscriminatorGrpcService(slot.view, { runId: cfg.runId, metrics: ctx.metrics, gates, replicas }).addToServer(server);
    },
    handlers: (ctx) => {
      generator = new GeneratorClient(cfg.generatorAddr, { deadlineMs: cfg.rpcTimeoutMs, metrics: ctx.metrics, tls: ctx.tls });
      return discriminatorHandlers(cfg, slot, gates, generator, replicas, ctx);
    },
    lastIteration: () => slot.current?.lastApplied.iteration,
    close: () => {
      generator?.close();
      replicas?.close();
      slot.dispose();
    },
  }, { ...cfg, rank: grouped ? cfg.rank : undefined }, log, signal);
}

function discriminatorHandlers(
  cfg: DiscriminatorConfig, slot: NodeSlot<DiscriminatorNode>, gates: DataPlaneGates, g: GeneratorClient,
  replicas: DiscriminatorReplicas | undefined, ctx: ServiceContext,
): CommandHandlers {
  const data = new DataCache(cfg.dataDir, ctx.log);
  /** The served node, once any checkpoint weights the last restore armed have been loaded. */
  const loaded = (): DiscriminatorNode => {
    const node = slot.get();
    const pending = gates.load.armed;
    if (pending) {
      throw new ServiceError('not-ready', `the discriminator awaits the checkpoint's weights (up to (${pending.iteration}, ${pending.step})) over LoadWeights`);
    }
    return node;
  };
  return {
    restore: async (cmd) => {
      const node = await restoredDiscriminator(cmd, data, replicas);
      // Every rank restores at once; each connects to its ring neighbour of this generation.
      if (replicas) await replicas.open(cmd.generation, parseTrainConfig(cmd.config, 'restore.config').syncBatchNorm ?? true);
      slot.replace(node);
      gates.update.reset();
      gates.load.reset();
      if (cmd.checkpoint) gates.load.arm({ generation: cmd.generation, iteration: cmd.checkpoint.iteration - 1, step: node.cfg.dSteps - 1 });
      return { iteration: cmd.iteration };
    },
    'd-step': (cmd) => {
      const node = loaded();
      gates.update.runLocally(cmd);
      return dStep(cmd, node, g, cfg, replicas, ctx);
    },
    checkpoint: async (cmd) => {
      const node = loaded();
      const last = node.lastApplied;
      if (last.iteration !== cmd.iteration - 1 || (cmd.iteration > 0 && last.step !== node.cfg.dSteps - 1)) {
        throw new ServiceError('bad-request', `iteration: checkpoint ${cmd.iteration} asked, but D has applied up to (${last.iteration}, ${last.step})`, { field: 'iteration' });
      }
      if (cfg.testExitInCheckpointAt === cmd.iteration) await exitOnceForTest(cfg.runId, cfg.parentPid, cmd.iteration, ctx.log);
      return { iteration: cmd.iteration, weightsHash: node.weightsHash() };
    },
  };
}

/** The dataset, loaded once per directory (the first restore pays for it). */
class DataCache {
  private loaded: { dir: string | undefined; set: Promise<ImageSet> } | undefined;
  constructor(private readonly override: string | undefined, private readonly log: Logger) {}

  get(configured: string | undefined): Promise<ImageSet> {
    const dir = this.override ?? configured;
    if (!this.loaded || this.loaded.dir !== dir) {
      const set = loadImageSet({ dir, split: 'train' });
      void set.then((s) => this.log.info('data loaded', { source: s.source, count: s.count }), () => undefined);
      this.loaded = { dir, set };
    }
    return this.loaded.set;
  }
}

/** A fresh node (seeded init) on the run's data (a replica: its shard of every batch); the
 *  checkpoint's weights, if any, arrive later over LoadWeights. */
async function restoredDiscriminator(cmd: CommandOf<'restore'>, data: DataCache, replicas: DiscriminatorReplicas | undefined): Promise<DiscriminatorNode> {
  const train = parseTrainConfig(cmd.config, 'restore.config');
  if (configHash(train) !== cmd.configHash) {
    throw new ServiceError('bad-request', 'configHash: does not match the hash of restore.config', { field: 'configHash' });
  }
  if (cmd.iteration !== (cmd.checkpoint?.iteration ?? 0)) {
    throw new ServiceError('bad-request', `iteration: expected ${cmd.checkpoint?.iteration ?? 0} (the checkpoint's), found ${cmd.iteration}`, { field: 'iteration' });
  }
  const size = replicas?.size ?? 1;
  if ((train.discriminatorReplicas ?? 1) !== size) {
    throw new ServiceError('bad-request', `config.discriminatorReplicas: the run has ${train.discriminatorReplicas ?? 1} discriminator replicas, ` +
      `but this process was started as one of ${size} (GANTRY_DISCRIMINATOR_ADDRS)`, { field: 'config.discriminatorReplicas' });
  }
  const shard = replicas ? { rank: replicas.rank, size } : undefined;
  return new DiscriminatorNode(toGanMathConfig(train), await data.get(train.data), shard);
}

/** (1) Update D on step (t, s). z, the real batch and any penalty noise derive from (seed, t, s). */
async function dStep(
  cmd: CommandOf<'d-step'>, node: DiscriminatorNode, g: GeneratorClient, cfg: DiscriminatorConfig, replicas: DiscriminatorReplicas | undefined, ctx: ServiceContext,
): Promise<ReplyBody<'d-step'>> {
  const { iteration: t, step: s } = cmd;
  const k = node.cfg.dSteps;
  if (s >= k) throw new ServiceError('bad-request', `step: D-steps are 0..${k - 1} (k = ${k}), found ${s}`, { field: 'step' });
  const end = ctx.metrics.stepDuration.startTimer({ phase: 'd_step' });
  const shape: [number, number, number, number] = [node.cfg.batchSize, ...(node.model.inputShape as [number, number, number])];
  let fakeData: Float32Array;
  try {
    fakeData = await g.generate({ runId: cfg.runId, iteration: t, step: s }, node.cfg.batchSize);
  } catch (err) {
    throw peerFailure(err, 'generator', t);
  }
  let fake: tf.Tensor4D;
  if (replicas) {
    // This rank's rows of G(z): [r b, (r + 1) b) of the whole batch, b = B / N.
    const rows = node.cfg.batchSize / replicas.size;
    const per = fakeData.length / node.cfg.batchSize;
    fake = tf.tensor4d(fakeData.subarray(replicas.rank * rows * per, (replicas.rank + 1) * rows * per), [rows, shape[1], shape[2], shape[3]]); // (b, 28, 28, 1)
  } else {
    fake = tf.tensor4d(fakeData, shape); // G(z), (B, 28, 28, 1)
  }
  let real = node.realBatch(t, s); // (B or b, 28, 28, 1) in [-1, 1]
  if (cfg.testInjectNanAt === t && s === 0) real = injectNan(real, ctx.log, t);
  try {
    let m;
    if (replicas) {
      try {
        m = await node.replicaTrainStep(t, s, real, fake, replicas.group(t * (k + 1) + s));
      } catch (err) {
        throw asPeerFailure(err, `D-step (${t}, ${s})`, replicas.rank);
      }
    } else if (node.soloGroup) {
      m = await node.replicaTrainStep(t, s, real, fake, node.soloGroup); // exact sums alone
    } else {
      m = node.trainStep(t, s, real, fake);
    }
    end();
    if (m.applied) record(ctx, m, t);
    return { metrics: { ...m, lr: node.optimizer.learningRate() } };
  } finally {
    tf.dispose([fake, real]);
  }
}

function record(ctx: ServiceContext, m: { lossD: number; dReal: number; dFake: number; gp?: number }, t: number): void {
  ctx.metrics.loss.set({ loss: 'd' }, m.lossD);
  if (m.gp !== undefined) ctx.metrics.loss.set({ loss: 'gp' }, m.gp);
  ctx.metrics.dOutputMean.set({ input: 'real' }, m.dReal);
  ctx.metrics.dOutputMean.set({ input: 'fake' }, m.dFake);
  ctx.metrics.iteration.set(t);
}

function injectNan(real: tf.Tensor4D, log: Logger, t: number): tf.Tensor4D {
  log.warn('TEST HOOK GANTRY_TEST_INJECT_NAN_AT: multiplying the real batch by NaN', { iteration: t });
  const poisoned = tf.mul(real, Number.NaN) as tf.Tensor4D;
  real.dispose();
  return poisoned;
}

async function exitOnceForTest(runId: string, parentPid: number | undefined, iteration: number, log: Logger): Promise<void> {
  // Keyed by the launcher too: a restarted discriminator of the same cluster must not exit again,
  // but the next test run with the same run id must (a marker of an earlier run would hide it).
  const marker = path.join(os.tmpdir(), `gantry-test-exit-in-checkpoint-${runId}-${parentPid ?? 'none'}-${iteration}`);
  try {
    await fsp.writeFile(marker, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    return; // already exited once for this checkpoint
  }
  log.warn('TEST HOOK GANTRY_TEST_EXIT_IN_CHECKPOINT_AT: exiting with the checkpoint half-written', { iteration });
  process.exit(75);
}
