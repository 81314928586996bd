// A worker's command handlers: the replica, its generation and its collective group, fenced by
// generation. Commands arrive one worker at a time from the classifier scheduler
// (services/scheduler/classifier-scheduler.ts states the protocol); `prepare` is the only one
// that does not wait its turn: it must abort a step blocked in the collective of a generation
// that has failed, so it closes the group first (the pending sum rejects, the replica rolls the
// step back) and then waits for the queue to drain.
import type { GrpcTls } from '../wire/tls.ts';
import { tf } from '../core/tf.ts';
import { ServiceError } from '../control/errors.ts';
import type { WorkerCommandOf, WorkerReplyBody } from '../control/worker-messages.ts';
import type { ImageSet } from '../data/imageset.ts';
import { loadImageSet } from '../data/mnist.ts';
import type { Logger } from '../telemetry/log.ts';
import { setRank, type WorkerMetrics } from '../telemetry/worker-metrics.ts';
import { StepGate } from '../wire/step-gate.ts';
import { classifierTrainSchema, parseConfig, type ClassifierTrainConfig } from '../train/config.ts';
import { WorkerClient } from '../wire/worker-client.ts';
import type { WeightsState } from '../wire/weights-stream.ts';
import { type CollectiveEndpoint, type GroupHandle, openGroup } from '../collective/index.ts';
import { Replica } from './replica.ts';
import { configHash } from '../control/run-config.ts';

interface Joined { generation: number; rank: number; size: number; group: GroupHandle }

export interface WorkerNodeOptions {
  runId: string;
  /** This process's worker key (its command subject token and KV key); a join must name it. */
  key?: string;
  /** Overrides the training config's data directory. */
  dataDir?: string;
  rpcTimeoutMs: number;
  /** This process's collective endpoint (on its gRPC server). */
  endpoint: CollectiveEndpoint;
  metrics: WorkerMetrics;
  log: Logger;
  /** Data-plane TLS for the ring and for pulling weights from rank 0 (wire/tls.ts); unset: plaintext. */
  tls?: GrpcTls;
  /** Called after a state change that the registration should show at once. */
  onChange(): void;
}

export class WorkerNode {
  replica: Replica | undefined;
  prepared: number | null = null;
  /** WorkerService.LoadWeights admits only the snapshot the scheduler's `load` command armed. */
  readonly loadGate = new StepGate('worker', 'LoadWeights');
  joined: Joined | undefined;
  /** The members of the last generation joined, to count joins and leaves as this rank saw them. */
  private lastMembers: string[] = [];
  private lastStep: { generation: number; step: number; reply: WorkerReplyBody<'step'> } | undefined;
  private data: { dir: string | undefined; sets: Promise<{ train: ImageSet; test: ImageSet }> } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: WorkerNodeOptions) {}

  /** Runs `fn` after every queued command (one command at a time, in arrival order). */
  enqueue<R>(fn: () => Promise<R>): Promise<R> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // -- prepare: fence, abort, roll back -------------------------------------------------------
  async prepare(cmd: WorkerCommandOf<'prepare'>): Promise<WorkerReplyBody<'prepare'>> {
    if (this.prepared !== null && cmd.generation < this.prepared) {
      throw new ServiceError('stale-generation', `generation: prepare for ${cmd.generation} refused, this worker is at ${this.prepared}`, { field: 'generation' });
    }
    const cfg = this.parseConfig(cmd.config, cmd.configHash);
    this.prepared = cmd.generation;
    this.loadGate.reset();
    this.leaveGroup();
    await this.queue; // the step in flight (if any) has now failed and rolled back
    if (!this.replica || this.replica.configHash !== cmd.configHash) await this.rebuild(cfg, cmd.configHash);
    const atStep = this.replica!.rollBackTo(cmd.step, cmd.committed);
    this.opts.onChange();
    return { atStep, applied: this.replica?.applied ?? null };
  }

  private leaveGroup(): void {
    const j = this.joined;
    this.joined = undefined;
    j?.group.close();
  }

  // -- load: arm one LoadWeights -----------------------------------------------------------------
  load(cmd: WorkerCommandOf<'load'>): WorkerReplyBody<'load'> {
    if (cmd.generation !== this.prepared) {
      throw new ServiceError('stale-generation', `generation: load for ${cmd.generation}, but this worker prepared for ${this.prepared}`, { field: 'generation' });
    }
    if (cmd.step < 1) throw new ServiceError('bad-request', `step: a loaded snapshot has applied at least 1 step, found ${cmd.step}`, { field: 'step' });
    this.loadGate.arm({ generation: cmd.generation, iteration: cmd.step - 1, step: 0 });
    return {};
  }

  // -- join: state, rank, group ----------------------------------------------------------------
  async join(cmd: WorkerCommandOf<'join'>): Promise<WorkerReplyBody<'join'>> {
    if (cmd.generation !== this.prepared) {
      throw new ServiceError('stale-generation', `generation: join for ${cmd.generation}, but this worker prepared for ${this.prepared}`, { field: 'generation' });
    }
    const size = cmd.members.length;
    if (cmd.rank >= size || cmd.members[cmd.rank].rank !== cmd.rank) {
      throw new ServiceError('bad-request', `rank: expected 0..${size - 1} matching members[rank].rank, found ${cmd.rank}`, { field: 'rank' });
    }
    checkMembers(cmd.members, cmd.rank, this.opts.key);
    const cfg = this.parseConfig(cmd.config, cmd.configHash);
    if (!this.replica || this.replica.configHash !== cmd.configHash) await this.rebuild(cfg, cmd.configHash);
    const replica = this.replica!;
    if (!replica.rollBackTo(cmd.step)) {
      if (cmd.source === 'init') {
        if (cmd.step !== 0) throw new ServiceError('bad-request', `step: source 'init' starts at step 0, found ${cmd.step}`, { field: 'step' });
        await this.rebuild(cfg, cmd.configHash);
      } else if (cmd.source === 'peer') {
        await this.pullFrom(cmd.members[0].addr, cmd.step);
      } else {
        throw new ServiceError('bad-request', `source: 'have', but this worker holds ${replica.applied} steps, not ${cmd.step}`, { field: 'source' });
      }
    }
    const group = openGroup({
      runId: this.opts.runId, generation: cmd.generation, rank: cmd.rank, addresses: cmd.members.map((m) => m.addr),
      endpoint: this.opts.endpoint, collectiveMs: this.opts.rpcTimeoutMs, metrics: this.opts.metrics, tls: this.opts.tls,
    });
    // Every rank opens its ring link before answering: the first step then starts on a formed
    // ring, and a member that cannot be reached fails the join (a new generation), not a step.
    try {
      await group.connect();
    } catch (err) {
      group.close();
      throw new ServiceError('peer-unavailable', `generation ${cmd.generation}: rank ${cmd.rank} cannot reach its ring neighbour: ${(err as Error).message}`,
        { role: 'worker' }, { cause: err });
    }
    this.joined = { generation: cmd.generation, rank: cmd.rank, size, group };
    const keys = cmd.members.map((m) => m.key);
    if (this.lastMembers.length > 0) {
      this.opts.metrics.membershipChanges.inc({ kind: 'join' }, keys.filter((k) => !this.lastMembers.includes(k)).length);
      this.opts.metrics.membershipChanges.inc({ kind: 'leave' }, this.lastMembers.filter((k) => !keys.includes(k)).length);
    }
    this.lastMembers = keys;
    setRank(this.opts.metrics, cmd.rank);
    this.opts.metrics.replicas.set(size);
    this.opts.metrics.generation.set(cmd.generation);
    this.opts.onChange();
    this.opts.log.info('joined', { generation: cmd.generation, rank: cmd.rank, size, step: cmd.step, source: cmd.source });
    return { applied: this.replica!.applied, weightsHash: this.replica!.hash() };
  }

  private parseConfig(raw: Record<string, unknown>, hash: string): ClassifierTrainConfig {
    let cfg: ClassifierTrainConfig;
    try {
      cfg = parseConfig(classifierTrainSchema, raw, 'join.config');
    } catch (err) {
      throw new ServiceError('bad-request', (err as Error).message, { field: 'config' }, { cause: err });
    }
    if (configHash(cfg) !== hash) throw new ServiceError('bad-request', 'configHash: does not match the hash of join.config', { field: 'configHash' });
    return cfg;
  }

  private async rebuild(cfg: ClassifierTrainConfig, hash: string): Promise<void> {
    const sets = await this.dataFor(cfg.data);
    this.replica?.dispose();
    this.replica = undefined;
    this.replica = new Replica(cfg, hash, sets);
  }

  private dataFor(configured: string | undefined): Promise<{ train: ImageSet; test: ImageSet }> {
    const dir = this.opts.dataDir ?? configured;
    if (!this.data || this.data.dir !== dir) {
      const sets = Promise.all([loadImageSet({ dir, split: 'train' }), loadImageSet({ dir, split: 'test' })]).then(([train, test]) => ({ train, test }));
      this.data = { dir, sets };
    }
    return this.data.sets;
  }

  /** A newcomer's state: rank 0's snapshot over gRPC, validated whole, then assigned. */
  private async pullFrom(addr: string, step: number): Promise<void> {
    const client = new WorkerClient(addr, { deadlineMs: this.opts.rpcTimeoutMs, tls: this.opts.tls });
    let state: WeightsState;
    try {
      state = await client.streamWeights();
    } catch (err) {
      throw new ServiceError('peer-unavailable', `rank 0 (${addr}) did not send its weights: ${(err as Error).message}`, { role: 'worker' }, { cause: err });
    } finally {
      client.close();
    }
    if (state.lastApplied.iteration + 1 !== step) {
      throw new ServiceError('bad-request', `step: rank 0 (${addr}) holds ${state.lastApplied.iteration + 1} steps, expected ${step}`, { field: 'step' });
    }
    this.replica!.load(state);
  }

  // -- step, evaluate, hash --------------------------------------------------------------------
  private member(generation: number): Joined & { replica: Replica } {
    const j = this.joined;
    if (!j || !this.replica || j.generation !== generation) {
      throw new ServiceError('stale-generation', `generation: this worker serves ${j?.generation ?? 'no generation'}, found ${generation}`, { field: 'generation' });
    }
    return { ...j, replica: this.replica };
  }

  async step(cmd: WorkerCommandOf<'step'>): Promise<WorkerReplyBody<'step'>> {
    const m = this.member(cmd.generation);
    const last = this.lastStep;
    if (last && last.generation === cmd.generation && last.step === cmd.step && m.replica.applied === cmd.step + 1) {
      return { ...last.reply, applied: false };
    }
    // Only the next step runs: a stale or future one would train on another slice of data (and
    // is no collective failure: nothing was sent to the ring).
    if (cmd.step !== m.replica.applied) {
      throw new ServiceError('bad-request', `step: this worker holds ${m.replica.applied} steps, so the next is step ${m.replica.applied}; found ${cmd.step}`, { field: 'step' });
    }
    const end = this.opts.metrics.stepDuration.startTimer({ phase: 'train_step' });
    const t0 = performance.now();
    m.group.takeWait();
    let r;
    try {
      r = await m.replica.step(cmd.step, m.group);
    } catch (err) {
      if (err instanceof ServiceError || (err as Error).name === 'NonFiniteError') throw err;
      // The collective did not complete: a neighbour died or stalled (or the scheduler aborted the
      // generation for that reason while this rank waited).
      this.opts.metrics.stalls.inc();
      throw new ServiceError('peer-unavailable', `step ${cmd.step} failed in generation ${cmd.generation} (rank ${m.rank}): ${(err as Error).message}`,
        { role: 'worker' }, { cause: err });
    }
    end();
    const w = m.group.takeWait();
    const reply: WorkerReplyBody<'step'> = {
      loss: r.loss, accuracy: r.accuracy, images: r.images, applied: true,
      seconds: (performance.now() - t0) / 1000, waitSeconds: w.gradsSeconds + w.otherSeconds,
      gradsWaitSeconds: w.gradsSeconds, collectives: w.calls,
    };
    this.lastStep = { generation: cmd.generation, step: cmd.step, reply };
    this.opts.metrics.images.inc(r.images);
    this.opts.metrics.iteration.set(cmd.step + 1);
    return reply;
  }

  async evaluate(cmd: WorkerCommandOf<'evaluate'>): Promise<WorkerReplyBody<'evaluate'>> {
    return this.member(cmd.generation).replica.evaluate(cmd.split);
  }

  async hash(cmd: WorkerCommandOf<'hash'>): Promise<WorkerReplyBody<'hash'>> {
    const { replica } = this.member(cmd.generation);
    return { applied: replica.applied, weightsHash: replica.hash() };
  }

  /** For StreamWeights/LoadWeights: the state between steps (they run on the event loop between commands). */
  access(): { snapshot(): WeightsState; load(s: WeightsState): void } {
    return {
      snapshot: () => {
        if (!this.replica) throw new ServiceError('not-ready', 'this worker has no model yet');
        return this.replica.snapshot();
      },
      load: (s) => {
        if (!this.replica) throw new ServiceError('not-ready', 'this worker has no model yet');
        this.replica.load(s);
        this.opts.onChange();
      },
    };
  }

  close(): void {
    this.leaveGroup();
    this.replica?.dispose();
    this.replica = undefined;
    void tf; // the backend stays up until the process exits
  }
}

/**
 * A join's member list is one ring: ranks 0..N-1 in order, each key and address once, and this
 * worker at its rank (a forged list would pair this rank with the wrong neighbours or run two
 * ranks on one process). Checked before anything changes.
 */
function checkMembers(members: WorkerCommandOf<'join'>['members'], rank: number, ownKey: string | undefined): void {
  const keys = new Set<string>();
  const addrs = new Set<string>();
  for (const [i, m] of members.entries()) {
    if (m.rank !== i) throw new ServiceError('bad-request', `members[${i}].rank: expected ${i} (ranks in order), found ${m.rank}`, { field: `members[${i}].rank` });
    if (keys.has(m.key)) throw new ServiceError('bad-request', `members[${i}].key: each worker once, found ${JSON.stringify(m.key.slice(0, 80))} again`, { field: `members[${i}].key` });
    if (addrs.has(m.addr)) throw new ServiceError('bad-request', `members[${i}].addr: each address once, found ${JSON.stringify(m.addr.slice(0, 80))} again`, { field: `members[${i}].addr` });
    keys.add(m.key);
    addrs.add(m.addr);
  }
  if (ownKey !== undefined && members[rank].key !== ownKey) {
    throw new ServiceError('bad-request', `members[${rank}].key: this worker is ${JSON.stringify(ownKey)}, found ${JSON.stringify(members[rank].key.slice(0, 80))}`, { field: `members[${rank}].key` });
  }
}
