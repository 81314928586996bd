// Everything the discriminator does, in-process or behind the discriminator service: it owns D,
// D's optimizer and the real data (its shard of it).
import { tf } from '../tf.ts';
import { TRAIN, TRAIN_NO_STATS, type Model } from '../model.ts';
import { buildDiscriminator } from '../presets.ts';
import { Adam, allFinite } from '../optim.ts';
import { deriveSeed } from '../../data/seed.ts';
import { ganLoss, gradientPenalty, meanOutput, type GanLoss } from '../losses.ts';
import { NonFiniteError, ShapeError, SnapshotMismatchError } from '../errors.ts';
import { restoreModel, snapshotHash, snapshotModel } from '../snapshot.ts';
import { replicaDiscriminatorStep, replicaGeneratorGrad, type ReplicaGroup } from '../parallel/mod.ts';
import { localReplicaGroups } from '../parallel/local-group.ts';
import { BatchSampler, type Shard } from '../../data/sampler.ts';
import { imageBatch } from '../batches.ts';
import type { ImageSet } from '../../data/imageset.ts';
import type { ModelSnapshot } from '../../run/model-snapshot.ts';
import { adamHyper, discriminatorInitSeed, type GanMathConfig } from './config.ts';

export interface DStepMetrics { lossD: number; dReal: number; dFake: number; gp?: number; applied: boolean }
/** L_D (gradient penalty included), D's mean outputs, the penalty (0 without one) and dL_D/dparams. */
export interface DStepGradients { lossD: number; dReal: number; dFake: number; gp: number; grads: tf.Tensor[] }
export interface GenGradResult { lossG: number; dFake: number; grad: tf.Tensor4D }
export interface StepKey { iteration: number; step: number }

const after = (a: StepKey, b: StepKey): boolean => a.iteration > b.iteration || (a.iteration === b.iteration && a.step > b.step);

export class DiscriminatorNode {
  readonly model: Model;
  readonly optimizer: Adam;
  readonly loss: GanLoss;
  /** The last D-step applied; {-1, -1} before any. */
  lastApplied: StepKey = { iteration: -1, step: -1 };
  private lastMetrics: DStepMetrics = { lossD: 0, dReal: 0, dFake: 0, applied: false };
  private readonly sampler: BatchSampler;

  /** With exact sums and no replica group: the group of one a lone discriminator steps on, so it
   *  computes the bits a replica group does; undefined otherwise (the plain, one-tape steps). */
  readonly soloGroup: ReplicaGroup | undefined;

  constructor(readonly cfg: GanMathConfig, readonly data: ImageSet, readonly shard?: Shard) {
    this.soloGroup = cfg.microBatches === undefined ? undefined : localReplicaGroups(1)[0];
    this.model = buildDiscriminator(cfg.arch, discriminatorInitSeed(cfg));
    this.optimizer = new Adam(this.model.params, adamHyper(cfg, cfg.lrD));
    this.loss = ganLoss(cfg.loss);
    this.sampler = new BatchSampler({ count: data.count, batchSize: cfg.batchSize, seed: cfg.seed });
  }

  /** The real batch of D-step (t, s): global batch t*k + s of the seeded stream. (B, 28, 28, 1) */
  realBatch(iteration: number, step: number): tf.Tensor4D {
    return imageBatch(this.data, this.sampler.indices(iteration * this.cfg.dSteps + step, this.shard));
  }

  /**
   * The D-step's loss, D's mean outputs and the gradient of L_D w.r.t. each of D's params (model
   * order; caller disposes), without the update. Like the step, it folds the real batch's
   * batch-norm statistics into the moving averages. The kernel tests compare these across backends.
   */
  stepGradients(iteration: number, step: number, real: tf.Tensor4D, fake: tf.Tensor4D): DStepGradients {
    this.checkImages('real', real);
    this.checkImages('fake', fake);
    const vars = this.model.params.map((p) => p.variable);
    let parts: tf.Scalar[] = [];
    const { grads, value } = tf.variableGrads(() => {
      const r = this.model.apply(real, TRAIN); // (B, 1); batch-norm statistics updated once, here
      const f = this.model.apply(fake, TRAIN_NO_STATS); // (B, 1)
      let loss = this.loss.discriminator(r, f);
      const gp = this.loss.gradientPenalty
        ? gradientPenalty((x) => this.model.apply(x, TRAIN_NO_STATS), real, fake, this.cfg.gpLambda,
          deriveSeed(this.cfg.seed, 'gp', iteration, step))
        : tf.scalar(0);
      loss = tf.add(loss, gp);
      parts = [meanOutput(this.loss, r), meanOutput(this.loss, f), gp].map((t) => tf.keep(t));
      return loss;
    }, vars);
    const ordered = vars.map((v) => grads[v.name]);
    try {
      const [lossD, dReal, dFake, gp] = [value, ...parts].map((t) => t.dataSync()[0]);
      return { lossD, dReal, dFake, gp, grads: ordered };
    } catch (e) {
      tf.dispose(ordered);
      throw e;
    } finally {
      tf.dispose([value, ...parts]);
    }
  }

  /** (1) Update D: minimise L_D(D(x), D(G(z))), i.e. for the minimax loss maximise log D(x) + log(1 - D(G(z))). */
  trainStep(iteration: number, step: number, real: tf.Tensor4D, fake: tf.Tensor4D): DStepMetrics {
    const key = { iteration, step };
    if (!after(key, this.lastApplied)) return { ...this.lastMetrics, applied: false };
    const { lossD, dReal, dFake, gp, grads } = this.stepGradients(iteration, step, real, fake);
    try {
      if (!Number.isFinite(lossD)) throw new NonFiniteError('discriminator loss', iteration, lossD);
      if (!allFinite(grads)) throw new NonFiniteError('discriminator gradient', iteration, Number.NaN);
      this.optimizer.apply(grads);
    } finally {
      tf.dispose(grads);
    }
    this.lastApplied = key;
    this.lastMetrics = { lossD, dReal, dFake, ...(this.loss.gradientPenalty ? { gp } : {}), applied: true };
    return this.lastMetrics;
  }

  /**
   * (1) on a replica of a group (--discriminator-replicas): this rank's slices real, fake
   * (B/N, 28, 28, 1) of D-step (t, s), gradients summed over the group, the same update on every
   * rank (core/parallel/discriminator-step.ts). Idempotent like trainStep; nothing is assigned
   * when a collective fails.
   */
  async replicaTrainStep(iteration: number, step: number, real: tf.Tensor4D, fake: tf.Tensor4D, group: ReplicaGroup): Promise<DStepMetrics> {
    const key = { iteration, step };
    if (!after(key, this.lastApplied)) return { ...this.lastMetrics, applied: false };
    const m = await replicaDiscriminatorStep(this, real, fake, group, this.cfg.batchSize, iteration, step, this.exact());
    this.lastApplied = key;
    this.lastMetrics = { ...m, applied: true };
    return this.lastMetrics;
  }

  /** For the G-step on a replica: L_G, D(G(z')) (group sums) and this rank's rows (B/N, 28, 28, 1) of dL_G/dfake. */
  replicaGeneratorGrad(iteration: number, fake: tf.Tensor4D, group: ReplicaGroup): Promise<GenGradResult> {
    return replicaGeneratorGrad(this, fake, group, this.cfg.batchSize, iteration, this.exact());
  }

  private exact(): { microBatches?: number } {
    return this.cfg.microBatches === undefined ? {} : { microBatches: this.cfg.microBatches };
  }

  /** For the G-step: L_G and dL_G/dG(z') (B, 28, 28, 1) with D held fixed (no update, no stats). */
  generatorGrad(iteration: number, fake: tf.Tensor4D): GenGradResult {
    this.checkImages('fake', fake);
    let dFakeT: tf.Scalar | undefined;
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => {
      const f = this.model.apply(x, TRAIN_NO_STATS);
      dFakeT = tf.keep(meanOutput(this.loss, f));
      return this.loss.generator(f);
    })(fake);
    const lossG = value.dataSync()[0];
    const dFake = dFakeT!.dataSync()[0];
    tf.dispose([value, dFakeT!]);
    if (!Number.isFinite(lossG)) {
      grad.dispose();
      throw new NonFiniteError('generator loss', iteration, lossG);
    }
    return { lossG, dFake, grad: grad as tf.Tensor4D };
  }

  /**
   * L_G(D(fake)) with D held fixed (no update, no stats), as a tensor for a tape that runs through
   * D into G (GeneratorNode.applyObjective, in one process); generatorGrad's loss, with its gradient
   * w.r.t. fake being generatorGrad's result.
   */
  generatorLoss(fake: tf.Tensor4D): tf.Scalar {
    this.checkImages('fake', fake);
    return this.loss.generator(this.model.apply(fake, TRAIN_NO_STATS));
  }

  snapshot(): ModelSnapshot {
    return snapshotModel(this.model, this.optimizer);
  }

  /** snapshotHash of the weights, batch-norm state and Adam state: replicas compare it at checkpoints. */
  weightsHash(): string {
    return snapshotHash(this.snapshot());
  }

  /** All or nothing (restoreModel): a rejected snapshot changes neither the model, Adam nor lastApplied. */
  restore(s: ModelSnapshot, lastApplied: StepKey): void {
    for (const [k, v] of Object.entries(lastApplied)) {
      if (!Number.isSafeInteger(v) || v < -1) throw new SnapshotMismatchError(`lastApplied.${k} ${v}: expected an integer >= -1`);
    }
    restoreModel(this.model, this.optimizer, s);
    this.lastApplied = { ...lastApplied };
    this.lastMetrics = { lossD: 0, dReal: 0, dFake: 0, applied: false };
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
  }

  private checkImages(field: string, x: tf.Tensor): void {
    const expected = [this.cfg.batchSize / (this.shard?.size ?? 1), ...this.model.inputShape];
    if (field === 'fake') expected[0] = this.cfg.batchSize;
    if (x.shape.join(',') !== expected.join(',')) throw new ShapeError(field, expected, x.shape);
  }
}
