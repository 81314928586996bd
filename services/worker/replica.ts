// One data-parallel replica of the classifier: the model, its Adam state, the data, and the
// commit/rollback bookkeeping that keeps an update from ever being half-applied across a group.
//
// State: `applied` steps are included in the weights. Before step s (applied === s) the replica
// keeps its state (`before`); step s+1 starting means the scheduler committed s, so the kept
// state is replaced. It is kept without copying: a clone of every variable (model tensors, Adam
// slots) shares the variable's backend buffer, and an update never writes into a buffer (every
// kernel, the fused Adam one included, returns new buffers that assign() swaps in), so the clones
// hold the pre-step values bit for bit until they are disposed. (A snapshot to Float32Arrays here
// cost three read-backs of every weight per step: 79 MB for the workshop classifier.) When a generation fails in the middle of step s, some ranks may have
// applied it and others not: the scheduler's `prepare` for step s rolls the former back to
// `before`, and the new generation redoes s. (Horovod elastic's commit/rollback, with the
// commit implicit in the next step.)
//
// Data: rank r of a group of n takes the r-th contiguous slice of global batch s (the seeded
// BatchSampler with the global batch size), so one epoch stays one pass over the training split
// whatever n is, and n ranks together see exactly the batch one process would.
import { tf } from '../core/tf.ts';
import { buildClassifier, classifierArch } from '../core/presets.ts';
import { Adam, WORKSHOP_DECAY } from '../core/optim.ts';
import { deriveSeed } from '../data/seed.ts';
import { classifierStep, evaluateClassifierYielding } from '../core/classifier/step.ts';
import { restoreModel, snapshotHash, snapshotModel } from '../core/snapshot.ts';
import { SnapshotMismatchError } from '../core/errors.ts';
import type { ClassifierModel } from '../core/model.ts';
import type { ImageSet } from '../data/imageset.ts';
import { BatchSampler, splitTrainValidation } from '../data/sampler.ts';
import { imageBatch, labelBatch } from '../core/batches.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { ClassifierTrainConfig } from '../train/config.ts';
import type { WeightsState } from '../wire/weights-stream.ts';
import type { GroupHandle } from '../collective/index.ts';
import { replicaClassifierStep } from '../core/parallel/mod.ts';

const EVAL_BATCH = 500;

export interface ReplicaData {
  train: ImageSet;
  test: ImageSet;
}

export interface StepResult {
  loss: number;
  accuracy: number;
  images: number;
}

export class Replica {
  readonly model: ClassifierModel;
  readonly optimizer: Adam;
  private readonly split: { train: Uint32Array; validation: Uint32Array };
  private readonly sampler: BatchSampler;
  /** Steps included in the weights. */
  applied = 0;
  /** The state before the last step started, and the generation whose group ran that step. */
  private before: { values: tf.Tensor[]; optimizerStep: number; applied: number; generation: number } | undefined;

  /** The seeded initial weights of `cfg`: every rank builds the same ones (as the in-process trainer). */
  constructor(readonly cfg: ClassifierTrainConfig, readonly configHash: string, private readonly data: ReplicaData) {
    this.split = splitTrainValidation(data.train.count, cfg.validationSize, cfg.seed);
    this.sampler = new BatchSampler({ count: this.split.train.length, batchSize: cfg.batchSize, seed: cfg.seed });
    this.model = buildClassifier(classifierArch(cfg.preset, { width: cfg.width, denseUnits: cfg.denseUnits }), deriveSeed(cfg.seed, 'init', 3));
    this.optimizer = new Adam(this.model.params, {
      lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, epsilon: 1e-8,
      decayRate: cfg.lrDecay ? WORKSHOP_DECAY.decayRate : 0, decaySteps: WORKSHOP_DECAY.decaySteps,
    });
  }

  /**
   * True when the weights are those after `step` steps, rolling back an uncommitted step if
   * needed. The last step applied is pending until a next step confirms its commit; asked to
   * hold `step` with that pending step as the last of them, the replica keeps it only when
   * `committed` says the generation that ran it committed it: otherwise a group without this
   * replica may have redone that step (its sum over other ranks differs in round-off), and the
   * pending one is rolled back (the replica then holds step - 1 and loads the committed state).
   * A confirmed pending step is committed here: a later call (join) finds it plainly applied.
   */
  rollBackTo(step: number, committed?: { step: number; generation: number }): boolean {
    const pending = this.before !== undefined && this.applied === this.before.applied + 1 ? this.before : undefined;
    if (pending && this.applied === step) {
      if (committed?.step === pending.applied && committed.generation === pending.generation) {
        this.dropBefore(); // confirmed: the state before it is not needed any more
        return true;
      }
      this.restoreBefore();
      return false;
    }
    if (this.applied === step) return true;
    if (this.before && this.before.applied === step) {
      this.restoreBefore();
      return true;
    }
    return false;
  }

  private restoreBefore(): void {
    const { values, optimizerStep, applied } = this.before!;
    this.stateVariables().forEach((v, i) => v.assign(values[i]));
    this.optimizer.setStep(optimizerStep);
    this.applied = applied;
    this.dropBefore();
  }

  /** Every variable of the replica's state: model tensors (weights, moving statistics), Adam's slots. */
  private stateVariables(): tf.Variable[] {
    return [...this.model.params, ...this.model.state, ...this.optimizer.slotTensors()].map((e) => e.variable);
  }

  /** Keeps the state before a step: clones that share the variables' buffers (see the header). */
  private keepBefore(step: number, generation: number): void {
    this.dropBefore();
    this.before = { values: this.stateVariables().map((v) => tf.clone(v)), optimizerStep: this.optimizer.step, applied: step, generation };
  }

  private dropBefore(): void {
    if (this.before) tf.dispose(this.before.values);
    this.before = undefined;
  }

  /** One data-parallel step on this rank's slice of global batch `step` (the weights hold `step` steps). */
  async step(step: number, group: GroupHandle): Promise<StepResult> {
    if (this.applied !== step) throw new RangeError(`step: the replica holds ${this.applied} steps, asked for step ${step}`);
    this.keepBefore(step, group.generation);
    const idx = this.sampler.indices(step, { rank: group.rank, size: group.size }).map((i) => this.split.train[i]);
    const x = imageBatch(this.data.train, idx); // (B/n, 28, 28, 1)
    const labels = labelBatch(this.data.train, idx); // (B/n,)
    try {
      group.step = step;
      // One rank: the in-process step itself. More: batch-norm moments and the fused gradient
      // summed over the ring (SyncBatchNorm unless the config opts out), the same update everywhere.
      // With exact sums (microBatches) every group size, one included, runs the micro-batch step.
      const exact = this.cfg.microBatches === undefined ? {} : { microBatches: this.cfg.microBatches };
      const m = group.size === 1 && this.cfg.microBatches === undefined
        ? classifierStep(this.model, this.optimizer, x, labels, step)
        : await replicaClassifierStep(this.model, this.optimizer, x, labels,
          { rank: group.rank, size: group.size, sum: group.sum, gather: group.gather, syncBatchNorm: this.cfg.syncBatchNorm ?? true }, this.cfg.batchSize, step, exact);
      this.applied = step + 1;
      return { ...m, images: idx.length };
    } catch (err) {
      if (this.before?.applied === step) this.restoreBefore(); // nothing half-applied stays behind
      throw err;
    } finally {
      tf.dispose([x, labels]);
    }
  }

  /** Yields to the event loop between batches: the worker's heartbeats go on through a long evaluation. */
  evaluate(split: 'validation' | 'test'): Promise<{ loss: number; accuracy: number; count: number }> {
    const set = split === 'test' ? this.data.test : this.data.train;
    const indices = split === 'test' ? Uint32Array.from({ length: set.count }, (_, i) => i) : this.split.validation;
    return evaluateClassifierYielding(this.model, batchesOf(set, indices));
  }

  snapshot(): WeightsState {
    return { snapshot: snapshotModel(this.model, this.optimizer), lastApplied: { iteration: this.applied - 1, step: 0 } };
  }

  /** Replaces the whole state with a snapshot already validated on the wire; checks it fits the model first. */
  load(state: WeightsState): void {
    checkFits(this.model, this.optimizer, state.snapshot);
    restoreModel(this.model, this.optimizer, state.snapshot);
    this.applied = state.lastApplied.iteration + 1;
    this.dropBefore();
  }

  /** sha256 of every model tensor and Adam slot, in snapshot order (ranks agree bit for bit). */
  hash(): string {
    return snapshotHash(snapshotModel(this.model, this.optimizer));
  }

  dispose(): void {
    this.dropBefore();
    this.model.dispose();
    this.optimizer.dispose();
  }
}

function* batchesOf(set: ImageSet, indices: Uint32Array): Generator<{ x: tf.Tensor4D; labels: tf.Tensor1D }> {
  for (let i = 0; i < indices.length; i += EVAL_BATCH) {
    const idx = indices.subarray(i, i + EVAL_BATCH);
    yield { x: imageBatch(set, idx), labels: labelBatch(set, idx) };
  }
}

/** Every tensor and slot of the model present with its shape, nothing else: checked before anything is assigned. */
function checkFits(model: ClassifierModel, optimizer: Adam, snap: ModelSnapshot): void {
  const want = new Map<string, readonly number[]>();
  for (const { name, variable } of [...model.params, ...model.state]) want.set(`tensor ${name}`, variable.shape);
  for (const { name, variable } of optimizer.slotTensors()) want.set(`slot ${name}`, variable.shape);
  const have = new Map<string, readonly number[]>();
  for (const t of snap.tensors) have.set(`tensor ${t.name}`, t.shape);
  for (const t of snap.optimizer.slots) have.set(`slot ${t.name}`, t.shape);
  if (snap.role !== 'classifier') throw new SnapshotMismatchError(`role: expected a classifier snapshot, found ${snap.role}`);
  for (const [name, shape] of want) {
    const got = have.get(name);
    if (!got) throw new SnapshotMismatchError(`${name}: missing from the snapshot`);
    if (got.join(',') !== shape.join(',')) throw new SnapshotMismatchError(`${name}: expected shape [${shape.join(', ')}], found [${got.join(', ')}]`);
  }
  const extra = [...have.keys()].filter((k) => !want.has(k));
  if (extra.length) throw new SnapshotMismatchError(`snapshot has entries the model lacks: ${extra.slice(0, 3).join(', ')}`);
}
