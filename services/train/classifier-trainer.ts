// The workshop's MNIST classifier: softmax cross-entropy, Adam, a validation split held out of
// the training set, early stopping on the validation loss (patience, or the workshop's absolute
// threshold), and the test accuracy of the best weights at the end.
import { tf } from '../core/tf.ts';
import { buildClassifier, classifierArch } from '../core/presets.ts';
import { Adam, WORKSHOP_DECAY } from '../core/optim.ts';
import { deriveSeed } from '../data/seed.ts';
import { classifierStep, evaluateClassifier } from '../core/classifier/step.ts';
import { localReplicaGroups } from '../core/parallel/local-group.ts';
import { replicaClassifierStep } from '../core/parallel/mod.ts';
import { restoreModel, snapshotModel } from '../core/snapshot.ts';
import type { ClassifierModel } from '../core/model.ts';
import { loadImageSet } from '../data/mnist.ts';
import { BatchSampler, splitTrainValidation } from '../data/sampler.ts';
import { imageBatch, labelBatch } from '../core/batches.ts';
import type { ImageSet } from '../data/imageset.ts';
import { createProgress } from '../run/progress.ts';
import type { Logger } from '../telemetry/log.ts';
import type { ClassifierTrainConfig } from './config.ts';
import { openRun } from './session.ts';
import { EarlyStopping } from './early-stopping.ts';

export interface ClassifierTrainResult {
  runDir: string;
  steps: number;
  bestValidationLoss: number;
  testAccuracy: number;
  testLoss: number;
  stoppedEarly: boolean;
  lastCheckpoint?: string;
}

const EVAL_BATCH = 500;

/** Inference-mode batches over `indices` of `set`. */
function* batchesOf(set: ImageSet, indices: Uint32Array): Generator<{ x: tf.Tensor4D; labels: tf.Tensor1D }> {
  for (let i = 0; i < indices.length; i += EVAL_BATCH) {
    const idx = indices.subarray(i, i + EVAL_BATCH);
    yield { x: imageBatch(set, idx), labels: labelBatch(set, idx) };
  }
}

const range = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i);

export interface TrainOptions {
  /** abort() stops the run after the current step, as Ctrl-C does (final checkpoint, resumable). */
  signal?: AbortSignal;
}

export async function trainClassifier(cfg: ClassifierTrainConfig, log: Logger, opts: TrainOptions = {}): Promise<ClassifierTrainResult> {
  // -- run directory, backend, data, validation split ---------------------------------------
  const session = await openRun('classifier', cfg, log);
  session.watch(opts.signal);
  const train = await loadImageSet({ dir: cfg.data, split: 'train' });
  const test = await loadImageSet({ dir: cfg.data, split: 'test' });
  const split = splitTrainValidation(train.count, cfg.validationSize, cfg.seed);
  const sampler = new BatchSampler({ count: split.train.length, batchSize: cfg.batchSize, seed: cfg.seed });
  const stepsPerEpoch = Math.floor(split.train.length / cfg.batchSize);
  const totalSteps = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, cfg.epochs * stepsPerEpoch) : cfg.epochs * stepsPerEpoch;
  log.info('data loaded', { train: split.train.length, validation: split.validation.length, test: test.count, steps: totalSteps });

  // -- model and optimizer -------------------------------------------------------------------
  const model: ClassifierModel = buildClassifier(
    classifierArch(cfg.preset, { width: cfg.width, denseUnits: cfg.denseUnits }),
    deriveSeed(cfg.seed, 'init', 3),
  );
  const optimizer = new Adam(model.params, {
    lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, epsilon: 1e-8,
    decayRate: cfg.lrDecay ? WORKSHOP_DECAY.decayRate : 0, decaySteps: WORKSHOP_DECAY.decaySteps,
  });
  const current = () => snapshotModel(model, optimizer);
  const [solo] = localReplicaGroups(1);
  const early = new EarlyStopping(cfg.patience);
  const start = await session.restore(async (snaps, iteration, extra) => {
    restoreModel(model, optimizer, snaps.get('classifier')!);
    await early.restore(session, extra, iteration, current, log);
  });
  const validate = () => evaluateClassifier(model, batchesOf(train, split.validation));

  // -- the loop: steps, periodic validation, early stopping ----------------------------------
  let stoppedEarly = false;
  const progress = createProgress({ total: totalSteps, label: `classifier ${cfg.preset}`, initial: start, logger: log });
  let step = start;
  const began = performance.now();
  try {
    for (; step < totalSteps && !stoppedEarly; step++) {
      await session.yieldToEventLoop();
      if (session.stopRequested) break;
      const idx = sampler.indices(step).map((i) => split.train[i]);
      const x = imageBatch(train, idx);
      const labels = labelBatch(train, idx);
      let m: { loss: number; accuracy: number };
      try {
        // Exact sums: the data-parallel step on a group of one, over every micro-batch (the same
        // bits as N workers); otherwise the plain step (one pass, tfjs' own sums).
        m = cfg.microBatches === undefined
          ? classifierStep(model, optimizer, x, labels, step)
          : await replicaClassifierStep(model, optimizer, x, labels, solo, cfg.batchSize, step, { microBatches: cfg.microBatches });
      } finally {
        tf.dispose([x, labels]);
      }
      const done = step + 1;
      const epoch = Math.floor(step / stepsPerEpoch);
      const elapsed = (performance.now() - began) / 1000;
      session.metrics.append({ kind: 'train', step: done, epoch, ...m, lr: optimizer.learningRate(), elapsedSeconds: elapsed });
      progress.update(done, { loss: m.loss, acc: m.accuracy });
      if (done % cfg.evalEvery === 0 || done === totalSteps) {
        const v = validate();
        session.metrics.append({ kind: 'validation', step: done, epoch, loss: v.loss, accuracy: v.accuracy });
        log.info('validation', { step: done, loss: v.loss, accuracy: v.accuracy });
        if (early.observe(v.loss, done, current)) {
          log.info('early stopping: validation loss did not improve', { patience: cfg.patience, bestStep: early.best?.step });
          stoppedEarly = true;
        }
        if (cfg.stopBelowValLoss !== undefined && v.loss < cfg.stopBelowValLoss) {
          log.info('early stopping: validation loss below the threshold', { threshold: cfg.stopBelowValLoss });
          stoppedEarly = true;
        }
      }
      // The last step's checkpoint is written after the loop.
      const last = done === totalSteps || stoppedEarly || session.stopRequested;
      if (done % cfg.checkpointEvery === 0 && !last) await session.checkpoint(done, [current()], await early.checkpointExtra(session, done));
    }
  } catch (err) {
    progress.stop();
    await session.fail(err, step);
    throw err;
  } finally {
    progress.stop();
  }

  // -- the end ---------------------------------------------------------------------------------
  // A finished run's final checkpoint holds the best weights (what `gantry eval` judges with); an
  // interrupted one's holds the current weights and the early-stopping state, so that --resume
  // continues bit for bit.
  const finished = step >= totalSteps || stoppedEarly;
  let lastCheckpoint: string | undefined;
  if (!finished) lastCheckpoint = await session.finalCheckpoint(step, () => [current()], await early.checkpointExtra(session, step));
  const best = early.best;
  if (best && best.step !== step) restoreModel(model, optimizer, best.snapshot);
  const t = evaluateClassifier(model, batchesOf(test, range(test.count)));
  session.metrics.append({ kind: 'test', step, loss: t.loss, accuracy: t.accuracy });
  log.info('test', { loss: t.loss, accuracy: t.accuracy, bestStep: best?.step ?? step });
  if (finished) lastCheckpoint = await session.finalCheckpoint(step, () => [current()]);
  await session.finish(finished ? 'completed' : 'stopped');
  model.dispose();
  optimizer.dispose();
  return {
    runDir: session.run.root, steps: step, bestValidationLoss: best?.loss ?? NaN,
    testAccuracy: t.accuracy, testLoss: t.loss, stoppedEarly, lastCheckpoint,
  };
}
