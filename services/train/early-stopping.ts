// The classifier's early stopping on the validation loss, and how it survives a resume: the
// bookkeeping (best loss, its step, validations since) rides in every checkpoint's manifest, and
// the best weights, when they are older than the checkpoint, are kept in checkpoints/best/ (one
// checkpoint, outside the iter-* pruning). A resumed run therefore stops, and reports the test
// accuracy of the same best weights, exactly as the run that was never interrupted.
import path from 'node:path';
import { readCheckpoint, writeCheckpoint } from '../run/checkpoint.ts';
import { pruneCheckpoints } from '../run/checkpoint-list.ts';
import { finalDirFor } from '../run/checkpoint-paths.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { Logger } from '../telemetry/log.ts';
import type { RunSession } from './session.ts';

export interface EarlyStoppingState {
  bestLoss: number;
  bestStep: number;
  /** Validations without improvement since bestStep. */
  sinceBest: number;
}

export interface Best { loss: number; snapshot: ModelSnapshot; step: number }

/** The manifest `extra` key. */
export const EARLY_STOPPING_KEY = 'earlyStopping';

export class EarlyStopping {
  best: Best | undefined;
  sinceBest = 0;
  private savedBestStep = -1;

  constructor(private readonly patience: number) {}

  /** Records a validation loss; `snapshot` is taken only on improvement. True: patience ran out. */
  observe(loss: number, step: number, snapshot: () => ModelSnapshot): boolean {
    if (!this.best || loss < this.best.loss) {
      this.best = { loss, snapshot: snapshot(), step };
      this.sinceBest = 0;
      return false;
    }
    this.sinceBest += 1;
    return this.sinceBest >= this.patience;
  }

  /** What a checkpoint at `step` records; writes the best weights aside when they are older. */
  async checkpointExtra(session: RunSession, step: number): Promise<Record<string, unknown>> {
    if (!this.best) return {};
    if (this.best.step !== step && this.best.step !== this.savedBestStep) {
      const root = bestRoot(session);
      await writeCheckpoint(root, {
        kind: 'classifier', iteration: this.best.step, config: session.config as Record<string, unknown>,
        snapshots: [this.best.snapshot], extra: { backend: session.backend.name, best: true },
      });
      await pruneCheckpoints(root, 1);
      this.savedBestStep = this.best.step;
    }
    const state: EarlyStoppingState = { bestLoss: this.best.loss, bestStep: this.best.step, sinceBest: this.sinceBest };
    return { [EARLY_STOPPING_KEY]: state };
  }

  /**
   * Restores the bookkeeping saved with the checkpoint of step `resumed`. `current` is the
   * restored weights (the best ones when bestStep === resumed).
   */
  async restore(session: RunSession, extra: Record<string, unknown> | undefined, resumed: number,
    current: () => ModelSnapshot, log: Logger): Promise<void> {
    const state = extra?.[EARLY_STOPPING_KEY] as EarlyStoppingState | undefined;
    if (!state) {
      if (resumed > 0) log.warn('the checkpoint has no early-stopping state (a finished run, or an older gantry): patience starts afresh', { step: resumed });
      return;
    }
    let snapshot: ModelSnapshot | undefined;
    if (state.bestStep === resumed) snapshot = current();
    else {
      const dir = finalDirFor(bestRoot(session), state.bestStep);
      snapshot = await readCheckpoint(dir).then((c) => c.models.get('classifier'), (err: unknown) => {
        log.warn('the best weights of the interrupted run are missing: early stopping starts afresh', { dir, error: err });
        return undefined;
      });
    }
    if (!snapshot) return;
    this.best = { loss: state.bestLoss, snapshot, step: state.bestStep };
    this.sinceBest = state.sinceBest;
    this.savedBestStep = state.bestStep;
  }
}

const bestRoot = (session: RunSession): string => path.join(session.run.checkpoints, 'best');
