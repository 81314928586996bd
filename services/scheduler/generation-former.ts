// Step c) of the classifier scheduler's protocol (classifier-scheduler.ts): forming a numbered
// generation of the replica group at a step boundary, and recording the membership change.
import type { GrpcTls } from '../wire/tls.ts';
import { RoleUnavailable } from '../control/errors.ts';
import type { Member } from '../control/worker-messages.ts';
import type { WorkerRoster } from '../control/worker-registry.ts';
import { readCheckpoint } from '../run/checkpoint.ts';
import type { Logger } from '../telemetry/log.ts';
import type { SchedulerMetrics } from '../telemetry/scheduler-metrics.ts';
import { type ClassifierTrainConfig, groupDivisor } from '../train/config.ts';
import type { RunSession } from '../train/session.ts';
import { WorkerClient } from '../wire/worker-client.ts';
import type { SchedulerConfig } from './config.ts';
import type { RunLedger } from './ledger.ts';
import { groupSize, type WorkerGroup } from './worker-group.ts';

/** Not enough workers came within recoveryTimeoutMs. */
export class GroupUnavailable extends Error {
  override readonly name = 'GroupUnavailable';
  constructor(readonly live: number, readonly needed: number, readonly waitedMs: number) {
    super(`minWorkers: ${live} live worker(s) after ${waitedMs} ms, at least ${needed} needed (and a group size that divides the global batch)`);
  }
}

export class GenerationFormer {
  /** The last step this scheduler saw committed, and the generation whose group committed it. */
  private lastCommit: { step: number; generation: number } | undefined;

  constructor(
    private readonly group: WorkerGroup,
    private readonly roster: WorkerRoster,
    private readonly ledger: RunLedger,
    private readonly session: RunSession,
    private readonly train: ClassifierTrainConfig,
    private readonly hash: string,
    private readonly cfg: SchedulerConfig,
    private readonly metrics: SchedulerMetrics,
    private readonly log: Logger,
    private readonly tls?: GrpcTls,
  ) {}

  /** Step `step` was committed by the current generation (every rank answered it). */
  committed(step: number): void {
    this.lastCommit = { step, generation: this.group.generation };
  }

  private configRecord(): Record<string, unknown> {
    return this.train as unknown as Record<string, unknown>;
  }

  private get minWorkers(): number {
    return this.train.minWorkers ?? 1;
  }

  private get maxWorkers(): number {
    return this.train.maxWorkers ?? Math.max(this.train.workers, this.minWorkers);
  }

  /**
   * Forms a generation that holds the state of step `step` (or of the last checkpoint, when no
   * live worker holds it) and returns the step it starts at. `exclude`: workers just found dead
   * or stalled, left out until they register afresh.
   */
  async form(step: number, signal: AbortSignal, exclude: ReadonlySet<string> = new Set()): Promise<number> {
    const previous = this.group.members;
    const bad = new Set(exclude);
    for (;;) {
      if (signal.aborted) throw new Error('interrupted while forming a generation');
      const n = await this.awaitWorkers(bad, signal);
      const chosen = this.group.candidates(bad).slice(0, n);
      const generation = Math.max(this.ledger.state.generation, this.group.generation) + 1;
      await this.ledger.patch({ generation, status: 'recovering' });
      this.group.generation = generation;
      this.log.info('forming generation', { generation, step, size: n, workers: chosen.map((w) => w.reg.key) });
      // Which generation committed step - 1 (when this scheduler saw it): a replica keeps a pending step only if it ran it in that one.
      const committed = this.lastCommit?.step === step - 1 ? { committed: this.lastCommit } : {};
      const prepared = await Promise.allSettled(chosen.map((w) => this.group.commands.send(w.reg.key,
        { type: 'prepare', run: this.cfg.runId, generation, step, config: this.configRecord(), configHash: this.hash, ...committed }, this.cfg.commandTimeoutMs)));
      const failed = chosen.filter((_, i) => prepared[i].status === 'rejected');
      if (failed.length > 0) {
        for (const [i, w] of chosen.entries()) if (prepared[i].status === 'rejected') this.dropOnFailure(w.reg.key, (prepared[i] as PromiseRejectedResult).reason, bad);
        continue;
      }
      const atStep = prepared.map((p) => (p as PromiseFulfilledResult<{ atStep: boolean }>).value.atStep);
      // A holder of step `step` becomes rank 0; the rest keep their order.
      const order = [...chosen.keys()].sort((a, b) => Number(atStep[b]) - Number(atStep[a]) || a - b);
      const members: Member[] = order.map((i, rank) => ({ rank, key: chosen[i].reg.key, host: chosen[i].reg.host, addr: chosen[i].reg.addr }));
      let start = step;
      let rank0: 'have' | 'init' = 'have';
      if (!atStep[order[0]]) ({ start, rank0 } = await this.seedRank0(members[0], step));
      const sources = order.map((i, rank) => (rank === 0 ? rank0 : rank0 === 'init' ? 'init' : atStep[i] && start === step ? 'have' : 'peer'));
      const joined = await Promise.allSettled(members.map((m, rank) => this.group.commands.send(m.key, {
        type: 'join', run: this.cfg.runId, generation, step: start, rank, members, source: sources[rank],
        config: this.configRecord(), configHash: this.hash,
      }, this.cfg.commandTimeoutMs)));
      const notJoined = members.filter((_, i) => joined[i].status === 'rejected');
      if (notJoined.length > 0) {
        for (const [i, m] of members.entries()) if (joined[i].status === 'rejected') this.dropOnFailure(m.key, (joined[i] as PromiseRejectedResult).reason, bad);
        continue;
      }
      const hashes = joined.map((j) => (j as PromiseFulfilledResult<{ weightsHash: string }>).value.weightsHash);
      if (new Set(hashes).size !== 1) throw new Error(`generation ${generation}: the ranks' weights differ after join (hashes ${hashes.map((h) => h.slice(0, 12)).join(', ')})`);
      this.group.members = members;
      this.record(previous, members, generation, start, hashes[0], sources);
      await this.ledger.patch({ status: 'running' });
      return start;
    }
  }

  /** Waits for enough live workers; the group size (divides the global batch, within min/max). */
  private async awaitWorkers(bad: ReadonlySet<string>, signal: AbortSignal): Promise<number> {
    const size = (): number => groupSize(this.group.candidates(bad).length, this.maxWorkers, groupDivisor(this.train));
    const enough = (): boolean => size() >= this.minWorkers;
    const t0 = Date.now();
    if (!enough()) this.log.info('waiting for workers', { live: this.group.candidates(bad).length, minWorkers: this.minWorkers });
    if (!(await this.roster.waitUntil(enough, this.cfg.recoveryTimeoutMs, signal))) {
      throw new GroupUnavailable(this.group.candidates(bad).length, this.minWorkers, Date.now() - t0);
    }
    // The first generation waits (up to a minute) for the configured number of workers, which
    // start together but load at different speeds, rather than start small and grow a step later.
    if (this.group.members.length === 0) {
      const wanted = Math.min(this.train.workers, this.maxWorkers);
      await this.roster.waitUntil(() => this.group.candidates(bad).length >= wanted, Math.min(this.cfg.recoveryTimeoutMs, 60_000), signal);
    }
    return size();
  }

  /** No live worker holds `step`: step 0 starts from the seeded weights, later ones from the last checkpoint. */
  private async seedRank0(rank0: Member, step: number): Promise<{ start: number; rank0: 'have' | 'init' }> {
    const dir = this.session.lastCheckpoint;
    if (step === 0 || !dir) {
      if (step !== 0) this.log.warn('no worker holds the current step and there is no checkpoint: starting over from the initial weights', { step });
      return { start: 0, rank0: 'init' };
    }
    const ckpt = await readCheckpoint(dir);
    const start = ckpt.manifest.iteration;
    this.log.warn('no worker holds the current step: rolling back to the last checkpoint', { step, checkpoint: dir, start });
    // Rank 0 admits exactly this snapshot over LoadWeights once armed (worker `load` command).
    await this.group.commands.send(rank0.key, { type: 'load', run: this.cfg.runId, generation: this.group.generation, step: start }, this.cfg.commandTimeoutMs);
    const client = new WorkerClient(rank0.addr, { deadlineMs: this.cfg.commandTimeoutMs, tls: this.tls });
    try {
      await client.loadWeights({ snapshot: ckpt.models.get('classifier')!, lastApplied: { iteration: start - 1, step: 0 } });
    } finally {
      client.close();
    }
    return { start, rank0: 'have' };
  }

  private dropOnFailure(key: string, err: unknown, bad: Set<string>): void {
    const silent = err instanceof RoleUnavailable;
    this.log.warn('worker failed while a generation formed; leaving it out', { key, silent, error: (err as Error)?.message });
    bad.add(key);
    this.group.drop([key]);
  }

  private record(previous: Member[], members: Member[], generation: number, step: number, weightsHash: string, sources: string[]): void {
    const before = new Set(previous.map((m) => m.key));
    const after = new Set(members.map((m) => m.key));
    const joined = members.filter((m) => !before.has(m.key));
    const left = previous.filter((m) => !after.has(m.key));
    this.metrics.generation.set(generation);
    this.session.metrics.append({
      kind: 'membership', generation, step, size: members.length, weightsHash,
      members: members.map((m, i) => ({ rank: m.rank, key: m.key, host: m.host, source: sources[i] })),
      joined: joined.map((m) => m.key), left: left.map((m) => m.key),
    });
    this.log.info('generation formed', { generation, step, size: members.length, weightsHash, joined: joined.map((m) => m.key), left: left.map((m) => m.key) });
  }
}
