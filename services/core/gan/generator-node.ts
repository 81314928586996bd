// Everything the generator does, in-process or behind the generator service.
//
// The generator never sees the discriminator's weights. In the G-step it is handed the upstream
// gradient dL_G/dG(z') (B, 28, 28, 1) and back-propagates it through G: the gradient of
// sum(G(z') * upstream) w.r.t. G's variables is exactly the vector-Jacobian product. The tape is
// synchronous, so G(z') is recomputed under it with the same z' (a pure function of the seed).
// In one process (the in-process trainer) applyObjective differentiates L_G through D and G on
// one tape instead: the same gradient, without computing G(z') twice.
//
// With gEma > 0 the optimizer also keeps a moving average of G's weights; samples (grids,
// evaluations) then come from a twin network holding that average and G's batch-norm moving
// statistics, while training itself only ever uses G. With standingStats > 0 the twin (holding
// the average, or G's own weights) re-estimates those statistics for its weights first
// (standing-stats.ts), once per applied G-step.
import { tf } from '../tf.ts';
import { TRAIN, TRAIN_NO_STATS, INFER, type Model } from '../model.ts';
import { buildGenerator } from '../presets.ts';
import { Adam } from '../optim.ts';
import { deriveSeed } from '../../data/seed.ts';
import { NonFiniteError, ShapeError, SnapshotMismatchError } from '../errors.ts';
import { restoreModel, snapshotModel } from '../snapshot.ts';
import { standingStatistics } from '../standing-stats.ts';
import { sampleLatents } from '../latents.ts';
import type { ModelSnapshot } from '../../run/model-snapshot.ts';
import { adamHyper, generatorInitSeed, type GanMathConfig } from './config.ts';

export interface UpstreamResult { applied: boolean; gradNorm: number }

export class GeneratorNode {
  readonly model: Model;
  readonly optimizer: Adam;
  /** The last iteration whose G-step was applied; -1 before any. */
  lastAppliedIteration = -1;
  private lastResult: UpstreamResult = { applied: false, gradNorm: 0 };
  /** The twin that samples (gEma > 0 or standingStats > 0), built on first use. */
  private twin: Model | undefined;
  /** lastAppliedIteration when the twin was last loaded; undefined: never, or since a restore. */
  private twinAt: number | undefined;

  constructor(readonly cfg: GanMathConfig) {
    this.model = buildGenerator(cfg.arch, generatorInitSeed(cfg));
    this.optimizer = new Adam(this.model.params, adamHyper(cfg, cfg.lrG, cfg.gEma));
  }

  /** z for D-step (t, s) when s < k; for s === k, the z' of G-step t. (B, zDim) */
  latent(iteration: number, step: number): tf.Tensor2D {
    const seed = step < this.cfg.dSteps
      ? deriveSeed(this.cfg.seed, 'z-d', iteration, step)
      : deriveSeed(this.cfg.seed, 'z-g', iteration);
    return sampleLatents(this.cfg.batchSize, this.cfg.arch, seed);
  }

  /** G(z) with batch statistics, moving averages untouched. (B, 28, 28, 1); caller disposes. */
  generate(iteration: number, step: number): tf.Tensor4D {
    this.checkStep(step);
    return tf.tidy(() => this.model.apply(this.latent(iteration, step), TRAIN_NO_STATS) as tf.Tensor4D);
  }

  /** (2) Update G: descend L_G along the upstream gradient dL_G/dG(z'). Idempotent per iteration. */
  applyUpstream(iteration: number, upstream: tf.Tensor4D): UpstreamResult {
    if (iteration <= this.lastAppliedIteration) return { ...this.lastResult, applied: false };
    const expected = [this.cfg.batchSize, ...this.model.outputShape];
    if (upstream.shape.join(',') !== expected.join(',')) throw new ShapeError('grad', expected, upstream.shape);
    return this.descend(iteration, (fake) => tf.sum(tf.mul(fake, upstream))).result;
  }

  /**
   * (2) Update G when D lives in the same process: descend `objective`(G(z')), D's L_G with D held
   * fixed, on one tape through both networks. Back-propagating L_G through D yields exactly the
   * upstream gradient applyUpstream is sent, so the update is the same, with one forward pass of G
   * where generate + applyUpstream need two. `name` names the objective in the error a non-finite
   * value raises (before any update). Idempotent per iteration; returns the objective's value.
   */
  applyObjective(iteration: number, objective: (fake: tf.Tensor4D) => tf.Scalar, name: string): UpstreamResult & { value: number } {
    if (iteration <= this.lastAppliedIteration) return { ...this.lastResult, applied: false, value: Number.NaN };
    const { result, value } = this.descend(iteration, objective, name);
    return { ...result, value };
  }

  /**
   * objective(G(z')) for G-step `iteration` and its gradient w.r.t. each of G's params (model
   * order), without the update; G's batch-norm statistics are folded in (TRAIN), as the G-step
   * does. Caller disposes. The kernel tests compare these across backends.
   */
  objectiveGradients(iteration: number, objective: (fake: tf.Tensor4D) => tf.Scalar): { value: tf.Scalar; grads: tf.Tensor[] } {
    const z = this.latent(iteration, this.cfg.dSteps); // (B, zDim)
    try {
      const vars = this.model.params.map((p) => p.variable);
      const { grads, value } = tf.variableGrads(() => objective(this.model.apply(z, TRAIN) as tf.Tensor4D), vars);
      return { value, grads: vars.map((v) => grads[v.name]) };
    } finally {
      z.dispose();
    }
  }

  /** One G update along the gradient of objective(G(z')) for G-step `iteration`. */
  private descend(iteration: number, objective: (fake: tf.Tensor4D) => tf.Scalar, valueName?: string): { result: UpstreamResult; value: number } {
    const { value, grads: ordered } = this.objectiveGradients(iteration, objective);
    let v = Number.NaN;
    let gradNorm: number;
    try {
      if (valueName !== undefined) {
        v = value.dataSync()[0];
        if (!Number.isFinite(v)) throw new NonFiniteError(valueName, iteration, v);
      }
      gradNorm = tf.tidy(() => Math.sqrt(tf.addN(ordered.map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
      if (!Number.isFinite(gradNorm)) throw new NonFiniteError('generator gradient norm', iteration, gradNorm);
      this.optimizer.apply(ordered);
    } finally {
      tf.dispose([value, ...ordered]);
    }
    this.lastAppliedIteration = iteration;
    this.lastResult = { applied: true, gradNorm };
    return { result: this.lastResult, value: v };
  }

  /**
   * n images from a fixed seed in inference mode (batch-norm moving statistics): the sample grids
   * and evaluations. From the moving average of the weights when one is kept, and from truncated
   * latents when cfg.truncation > 0.
   */
  sample(n: number, seed: number): tf.Tensor4D {
    const model = this.samplingModel();
    return tf.tidy(() => {
      const z = sampleLatents(n, this.cfg.arch, seed, this.cfg.truncation ?? 0);
      return model.apply(z, INFER) as tf.Tensor4D;
    });
  }

  /**
   * G itself, or the twin: loaded with the weights' moving average (gEma > 0) or G's weights, and
   * G's statistics, or (standingStats > 0) statistics re-estimated for those weights.
   */
  samplingModel(): Model {
    const standing = this.cfg.standingStats ?? 0;
    if (!this.optimizer.averaging && standing === 0) return this.model;
    this.twin ??= buildGenerator(this.cfg.arch, generatorInitSeed(this.cfg));
    if (this.twinAt === this.lastAppliedIteration) return this.twin;
    const weights = this.optimizer.averaging ? this.optimizer.averages() : this.model.params;
    this.twin.params.forEach((p, i) => p.variable.assign(weights[i].variable));
    if (standing > 0) {
      standingStatistics(this.twin, { batches: standing, batchSize: this.cfg.batchSize, seed: this.cfg.seed });
    } else {
      this.twin.state.forEach((s, i) => s.variable.assign(this.model.state[i].variable));
    }
    this.twinAt = this.lastAppliedIteration;
    return this.twin;
  }

  snapshot(): ModelSnapshot {
    return snapshotModel(this.model, this.optimizer);
  }

  /** All or nothing (restoreModel): a rejected snapshot changes neither G, Adam nor lastAppliedIteration. */
  restore(s: ModelSnapshot, lastAppliedIteration: number): void {
    if (!Number.isSafeInteger(lastAppliedIteration) || lastAppliedIteration < -1) {
      throw new SnapshotMismatchError(`lastAppliedIteration ${lastAppliedIteration}: expected an integer >= -1`);
    }
    restoreModel(this.model, this.optimizer, s);
    this.lastAppliedIteration = lastAppliedIteration;
    this.twinAt = undefined;
    this.lastResult = { applied: false, gradNorm: 0 };
  }

  dispose(): void {
    this.model.dispose();
    this.twin?.dispose();
    this.optimizer.dispose();
  }

  private checkStep(step: number): void {
    if (!Number.isInteger(step) || step < 0 || step > this.cfg.dSteps) {
      throw new RangeError(`step must be an integer in 0..${this.cfg.dSteps} (k = ${this.cfg.dSteps}), got ${step}`);
    }
  }
}
