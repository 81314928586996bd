// The generator service: owns G and G's optimizer behind a GeneratorNode, serves
// GeneratorService.Generate over gRPC (the discriminator's D-steps ask it for G(z)) and answers
// the scheduler's NATS commands. It mounts no run directory and writes no file: the scheduler
// moves every snapshot over gRPC and writes what the generator answers.
//   restore     build G from the seeded init; with a checkpoint, arm LoadWeights for its progress
//               (t_ckpt - 1, -1) and refuse every other command until the scheduler has streamed
//               the checkpoint's snapshot in (all or nothing: a rejected stream changes nothing)
//   g-step      (2) Update G: fake' = G(z'); {L_G, dL_G/dfake'} = D.GeneratorGrad(fake') over gRPC,
//               D held fixed; back-propagate the upstream gradient through G and apply Adam.
//               G(z') is usually ready: computed ahead while D ran its last D-step (lookahead.ts)
//   checkpoint  check G has applied exactly iterations 0..N-1; the scheduler then pulls the
//               snapshot with StreamWeights and writes generator{,.optim}.safetensors itself
//   sample      answer the fixed-z 8x8 grid as PNG bytes (the scheduler writes samples/iter-N.png)
//   eval        score G after iteration N with the run's classifier (evalSamples images, z from the
//               run seed), exactly as the in-process trainer's periodic evaluator does; scores
//               null when no classifier can be loaded (logged once here; training goes on)
import { tf } from '../core/tf.ts';
import { GeneratorNode } from '../core/gan/generator-node.ts';
import type { CommandHandlers, ReplyBody } from '../control/commands.ts';
import { ServiceError } from '../control/errors.ts';
import type { CommandOf } from '../control/messages.ts';
import { NodeSlot } from '../control/node-slot.ts';
import { peerFailure } from '../control/peer-failure.ts';
import { configHash, parseTrainConfig } from '../control/run-config.ts';
import { runServiceProcess, type ServiceContext } from '../control/service-process.ts';
import { encodeGrid } from '../run/png-grid.ts';
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
  // G-steps run here (g-step), so ApplyUpstreamGradient is never armed; LoadWeights is armed by a
  // `restore` from a checkpoint, once, for that checkpoint's progress only.
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
  /** The served node, once any checkpoint weights the last restore armed have been loaded. */
  const loaded = (): GeneratorNode => {
    const node = slot.get();
    const pending = gates.load.armed;
    if (pending) {
      throw new ServiceError('not-ready', `the generator awaits the checkpoint's weights (G-steps up to iteration ${pending.iteration}) over LoadWeights`);
    }
    return node;
  };
  return {
    restore: async (cmd) => {
      const node = restoredGenerator(cmd);
      lookahead.clear();
      slot.replace(node);
      gates.update.reset();
      gates.load.reset();
      if (cmd.checkpoint) gates.load.arm({ generation: cmd.generation, iteration: cmd.checkpoint.iteration - 1, step: -1 });
      const train = parseTrainConfig(cmd.config, 'restore.config');
      // A discriminator replica group: every rank asks for each D-step's whole batch (lookahead.ts).
      lookahead.shareServed = (train.discriminatorReplicas ?? 1) > 1;
      evaluation.configure(train, cmd.configHash);
      return { iteration: cmd.iteration };
    },
    'g-step': (cmd) => {
      const node = loaded();
      gates.update.runLocally(cmd);
      return gStep(cmd, node, lookahead, d, cfg.runId, ctx);
    },
    checkpoint: async (cmd) => {
      const node = loaded();
      if (node.lastAppliedIteration !== cmd.iteration - 1) {
        throw new ServiceError('bad-request', `iteration: checkpoint ${cmd.iteration} asked, but G has applied iterations up to ${node.lastAppliedIteration}`, { field: 'iteration' });
      }
      return { iteration: cmd.iteration };
    },
    sample: async (cmd) => {
      const png = encodeGrid(sampleGrid(loaded()), SAMPLE_GRID_SHAPE); // 64 images (28, 28) from the fixed z
      return { iteration: cmd.iteration, pngBase64: png.toString('base64') };
    },
    eval: async (cmd) => evaluation.evaluate(cmd.iteration, loaded()),
  };
}

/** A fresh node (seeded init); the checkpoint's weights, if any, arrive later over LoadWeights. */
export function restoredGenerator(cmd: CommandOf<'restore'>): GeneratorNode {
  const train = parseTrainConfig(cmd.config, 'restore.config');
  if (configHash(train) !== cmd.configHash) {
    throw new ServiceError('bad-request', 'configHash: does not match the hash of restore.config', { field: 'configHash' });
  }
  if (cmd.iteration !== (cmd.checkpoint?.iteration ?? 0)) {
    throw new ServiceError('bad-request', `iteration: expected ${cmd.checkpoint?.iteration ?? 0} (the checkpoint's), found ${cmd.iteration}`, { field: 'iteration' });
  }
  return new GeneratorNode(toGanMathConfig(train));
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
