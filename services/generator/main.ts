// The generator service: owns G and G's optimizer behind a GeneratorNode, serves
// GeneratorService.Generate over gRPC (the discriminator's D-steps ask it for G(z)) and answers
// the scheduler's NATS commands:
//   restore     build G from the seeded init or the checkpoint the scheduler names
//   g-step      (2) Update G: fake' = G(z'); {L_G, dL_G/dfake'} = D.GeneratorGrad(fake') over gRPC,
//               D held fixed; back-propagate the upstream gradient through G and apply Adam.
//               G(z') is usually ready: computed ahead while D ran its last D-step (lookahead.ts)
//   checkpoint  write generator.safetensors + generator.optim.safetensors into the staging dir
//   sample      write the fixed-z 8x8 grid to samples/iter-XXXXXX.png
//   eval        score G after iteration N with the run's classifier (evalSamples images, z from the
//               run seed), exactly as the in-process trainer's periodic evaluator does; scores
//               null when no classifier can be loaded (logged once here; training goes on)
import path from 'node:path';
import { tf } from '../core/tf.ts';
import { GeneratorNode } from '../core/gan/generator-node.ts';
import type { CommandHandlers, ReplyBody } from '../control/commands.ts';
import { checkpointRefused, ServiceError } from '../control/errors.ts';
import type { CommandOf } from '../control/messages.ts';
import { NodeSlot } from '../control/node-slot.ts';
import { peerFailure } from '../control/peer-failure.ts';
import { configHash, parseTrainConfig } from '../control/run-config.ts';
import { runServiceProcess, type ServiceContext } from '../control/service-process.ts';
import { readCheckpoint, writeModelFiles } from '../run/checkpoint.ts';
import { writeGrid } from '../run/png-grid.ts';
import type { Logger } from '../telemetry/log.ts';
import { toGanMathConfig } from '../train/config.ts';
import { sampleGrid } from '../train/gan-trainer.ts';
import { SAMPLE_GRID_SHAPE } from '../train/sample-grid.ts';
import { DiscriminatorClient, type GeneratorGradResult } from '../wire/discriminator-client.ts';
import { dataPlaneGates, type DataPlaneGates } from '../wire/step-gate.ts';
import type { GeneratorConfig } from './config.ts';
import { Evaluation } from './evaluation.ts';
import { GeneratorGrpcService } from './grpc-service.ts';
import { Lookahead } from './lookahead.ts';

export async function runGenerator(cfg: GeneratorConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const slot = new NodeSlot<GeneratorNode>('generator');
  const evaluation = new Evaluation(log);
  const lookahead = new Lookahead(() => slot.current);
  // G-steps run here (g-step), so ApplyUpstreamGradient is never armed; LoadWeights neither
  // (restores read checkpoints): both stay closed to callers the scheduler did not command.
  const gates = dataPlaneGates('generator', 'ApplyUpstreamGradient');
  let discriminator: DiscriminatorClient | undefined;
  await runServiceProcess({
    role: 'generator',
    addGrpc: (server, ctx) => new GeneratorGrpcService(lookahead.wrap(slot.view), { runId: cfg.runId, metrics: ctx.metrics, gates }).addToServer(server),
    handlers: (ctx) => {
      discriminator = new DiscriminatorClient(cfg.discriminatorAddr, { deadlineMs: cfg.rpcTimeoutMs, metrics: ctx.metrics, tls: ctx.tls });
      return generatorHandlers(cfg, { slot, lookahead, evaluation, gates }, discriminator, ctx);
    },
    lastIteration: () => slot.current?.lastAppliedIteration,
    close: () => {
      lookahead.clear();
      evaluation.dispose();
      discriminator?.close();
      slot.dispose();
    },
  }, cfg, log, signal);
}

/** What the handlers share: the served node, G(z') computed ahead, the periodic evaluator. */
interface GeneratorState {
  slot: NodeSlot<GeneratorNode>;
  lookahead: Lookahead;
  evaluation: Evaluation;
  gates: DataPlaneGates;
}

function generatorHandlers(cfg: GeneratorConfig, state: GeneratorState, d: DiscriminatorClient, ctx: ServiceContext): CommandHandlers {
  const { slot, lookahead, evaluation, gates } = state;
  const inRunDir = (p: string): string => path.join(cfg.runDir, p);
  return {
    restore: async (cmd) => {
      const node = await restoredGenerator(cmd, inRunDir);
      lookahead.clear();
      slot.replace(node);
      gates.update.reset();
      gates.load.reset();
      evaluation.configure(parseTrainConfig(cmd.config, 'restore.config'), cmd.configHash);
      return { iteration: cmd.iteration };
    },
    'g-step': (cmd) => {
      gates.update.runLocally(cmd);
      return gStep(cmd, slot.get(), lookahead, d, cfg.runId, ctx);
    },
    checkpoint: async (cmd) => {
      const node = slot.get();
      if (node.lastAppliedIteration !== cmd.iteration - 1) {
        throw new ServiceError('bad-request', `iteration: checkpoint ${cmd.iteration} asked, but G has applied iterations up to ${node.lastAppliedIteration}`, { field: 'iteration' });
      }
      const end = ctx.metrics.checkpointDuration.startTimer();
      const entry = await writeModelFiles(inRunDir(cmd.stagingDir), node.snapshot());
      end();
      return { entry };
    },
    sample: async (cmd) => {
      await writeGrid(inRunDir(cmd.path), sampleGrid(slot.get()), SAMPLE_GRID_SHAPE);
      return { path: cmd.path };
    },
    eval: (cmd) => evaluation.evaluate(cmd.iteration, slot.get()),
  };
}

/** A fresh node (seeded init), loaded from the checkpoint when the command names one. */
export async function restoredGenerator(cmd: CommandOf<'restore'>, inRunDir: (p: string) => string): Promise<GeneratorNode> {
  const train = parseTrainConfig(cmd.config, 'restore.config');
  if (configHash(train) !== cmd.configHash) {
    throw new ServiceError('bad-request', 'configHash: does not match the hash of restore.config', { field: 'configHash' });
  }
  if (cmd.iteration !== (cmd.checkpoint?.iteration ?? 0)) {
    throw new ServiceError('bad-request', `iteration: expected ${cmd.checkpoint?.iteration ?? 0} (the checkpoint's), found ${cmd.iteration}`, { field: 'iteration' });
  }
  const node = new GeneratorNode(toGanMathConfig(train));
  if (!cmd.checkpoint) return node;
  try {
    const where = cmd.checkpoint.path;
    const ckpt = await readCheckpoint(inRunDir(where)).catch((err: unknown) => { throw checkpointRefused(err, where); }); // refuses .partial and hash mismatches
    node.restore(ckpt.models.get('generator')!, cmd.checkpoint.iteration - 1);
    return node;
  } catch (err) {
    node.dispose();
    throw err;
  }
}

/** (2) Update G for iteration t. The z' is derived from (seed, t), so a re-run computes the same G(z'). */
async function gStep(
  cmd: CommandOf<'g-step'>, node: GeneratorNode, lookahead: Lookahead, d: DiscriminatorClient, runId: string, ctx: ServiceContext,
): Promise<ReplyBody<'g-step'>> {
  const k = node.cfg.dSteps;
  if (cmd.step !== k) throw new ServiceError('bad-request', `step: a G-step is step k = ${k}, found ${cmd.step}`, { field: 'step' });
  const t = cmd.iteration;
  const end = ctx.metrics.stepDuration.startTimer({ phase: 'g_step' });
  const fake = lookahead.take(node, t); // G(z'), (B, 28, 28, 1), batch-norm statistics untouched
  let upstream: GeneratorGradResult;
  try {
    upstream = await d.generatorGrad({ runId, iteration: t, step: k }, fake.dataSync() as Float32Array);
  } catch (err) {
    throw peerFailure(err, 'discriminator', t);
  } finally {
    fake.dispose();
  }
  const grad = tf.tensor4d(upstream.grad, fake.shape); // dL_G/dG(z'), (B, 28, 28, 1)
  try {
    const r = node.applyUpstream(t, grad);
    end();
    ctx.metrics.loss.set({ loss: 'g' }, upstream.lossG);
    if (r.applied) ctx.metrics.iteration.set(t + 1);
    return { metrics: { lossG: upstream.lossG, dFake: upstream.dFake, gradNorm: r.gradNorm, applied: r.applied, lr: node.optimizer.learningRate() } };
  } finally {
    grad.dispose();
  }
}
