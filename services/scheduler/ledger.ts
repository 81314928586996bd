// The scheduler's handle on its run's KV entry: the last state it wrote and that state's revision.
// Every change is a compare-and-set against that revision; losing one (RunStateConflict) means
// another scheduler has taken the run over, and this one must stop without writing again.
// A write that fails otherwise (NATS restarting or stalled: a timeout, a closed request) is
// retried until PATCH_PATIENCE_MS. Such a write may have landed before its answer was lost; when
// its retry then loses the compare-and-set, the entry is read back: if it is exactly that write
// (next revision, this scheduler, the patched fields), it is taken as done.
import { isDeepStrictEqual } from 'node:util';
import os from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { RunStateConflict } from '../control/errors.ts';
import { FINAL_STATUSES, type RunState, RunStateStore, type VersionedRunState } from '../control/run-state.ts';
import { ConfigError } from '../train/config.ts';

export type RunStatePatch = Partial<Omit<RunState, 'runId' | 'updatedAt'>>;

const PATCH_PATIENCE_MS = 120_000;
const PATCH_PAUSE_MS = 500;

/** The run's KV entry as a scheduler finds it before claiming the run. */
export interface RunEntry {
  store: RunStateStore;
  /** null: a new run. */
  prev: VersionedRunState | null;
  /** Set when the run is already over: nothing to claim, report it. */
  finished?: RunState;
  /** The run was over (completed or failed) and is claimed again by an explicit resume. */
  reopened?: boolean;
}

/**
 * Reads the run's entry (creating the bucket when missing). An entry made with another
 * configuration is refused with a ConfigError: a restarted scheduler would be refused again, so it
 * exits as a configuration error (2) and is not restarted. A finished run is reported as such (a
 * scheduler restarted after the end does nothing), unless `resume`: the user asked to go on with
 * it (`--resume RUN_DIR`, e.g. with more iterations, or after a failure), so it is claimed again.
 */
export async function readRunEntry(nc: NatsConnection, runId: string, hash: string, resume = false): Promise<RunEntry> {
  const store = await RunStateStore.open(nc);
  const prev = await store.get(runId);
  const over = prev !== null && FINAL_STATUSES.includes(prev.state.status);
  if (prev && over && !resume) return { store, prev, finished: prev.state };
  if (prev && prev.state.configHash !== hash) {
    throw new ConfigError(`run ${runId}: its state in KV was made with another configuration (hash ${prev.state.configHash.slice(0, 12)}, ` +
      `this one ${hash.slice(0, 12)}); give this configuration another run id`);
  }
  return { store, prev, ...(over ? { reopened: true } : {}) };
}

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
    const deadline = Date.now() + PATCH_PATIENCE_MS;
    let uncertain = false;
    for (;;) {
      try {
        this.current = await this.store.update(this.current, patch);
        return;
      } catch (err) {
        if (err instanceof RunStateConflict) {
          if (uncertain && (await this.landed(patch))) return;
          throw err;
        }
        if (Date.now() > deadline) throw err;
        uncertain = true;
        await new Promise((r) => setTimeout(r, PATCH_PAUSE_MS));
      }
    }
  }

  /** The entry holds `patch` as the write right after ours, by us: a retried write had landed. */
  private async landed(patch: RunStatePatch): Promise<boolean> {
    const now = await this.store.get(this.current.state.runId);
    if (!now || now.revision !== this.current.revision + 1) return false;
    if (now.state.scheduler?.instance !== (patch.scheduler ?? this.current.state.scheduler)?.instance) return false;
    const fields = now.state as unknown as Record<string, unknown>;
    if (!Object.entries(patch).every(([k, v]) => isDeepStrictEqual(fields[k], v === undefined ? undefined : JSON.parse(JSON.stringify(v))))) return false;
    this.current = now;
    return true;
  }
}

function me(instance: string): RunState['scheduler'] {
  return { instance, pid: process.pid, host: os.hostname() };
}

export { RunStateConflict };
