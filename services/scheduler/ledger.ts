// The scheduler's handle on its run's KV entry: the last state it wrote and that state's revision.
// Every change is a compare-and-set against that revision; losing one (RunStateConflict) means
// another scheduler has taken the run over, and this one must stop without writing again.
import os from 'node:os';
import { RunStateConflict } from '../control/errors.ts';
import type { RunState, RunStateStore, VersionedRunState } from '../control/run-state.ts';

export type RunStatePatch = Partial<Omit<RunState, 'runId' | 'updatedAt'>>;

export class RunLedger {
  private constructor(
    private readonly store: RunStateStore,
    private current: VersionedRunState,
  ) {}

  /** Creates the run's first state; fails with RunStateConflict if a scheduler created it first. */
  static async create(store: RunStateStore, state: Omit<RunState, 'updatedAt' | 'scheduler'>, instance: string): Promise<RunLedger> {
    return new RunLedger(store, await store.create({ ...state, scheduler: me(instance) }));
  }

  /** Takes over an existing run: one compare-and-set that names this scheduler as the owner. */
  static async takeOver(store: RunStateStore, prev: VersionedRunState, patch: RunStatePatch, instance: string): Promise<RunLedger> {
    const ledger = new RunLedger(store, prev);
    await ledger.patch({ ...patch, scheduler: me(instance) });
    return ledger;
  }

  get state(): RunState {
    return this.current.state;
  }

  get revision(): number {
    return this.current.revision;
  }

  async patch(patch: RunStatePatch): Promise<void> {
    this.current = await this.store.update(this.current, patch);
  }
}

function me(instance: string): RunState['scheduler'] {
  return { instance, pid: process.pid, host: os.hostname() };
}

export { RunStateConflict };
