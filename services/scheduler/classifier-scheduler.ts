// The classifier scheduler: drives a data-parallel classifier run over a group of workers
// (`gantry serve worker`). It holds no model; it orders the steps, forms the group's
// generations, and writes the run directory exactly as the in-process trainer does
// (services/train/classifier-trainer.ts: config.json, run.json, metrics.jsonl, checkpoints,
// checkpoints/best, report.html, the test accuracy of the best weights).
//
// Protocol (commands on <prefix>.<run>.cmd.worker.<key>; messages in control/worker-messages.ts):
//  a) Claim. The run's KV entry (bucket gantry_runs) is created, or taken over with a
//     compare-and-set (another config hash is refused, a finished run is reported). The run
//     directory is opened (resume: the latest complete checkpoint is the starting point).
//  b) Gather. Workers register in KV bucket gantry_workers (<run>.<key>) and rewrite the entry
//     every heartbeat; wait until at least minWorkers are live (recoveryTimeoutMs at most).
//  c) Form a generation at step boundary S. generation += 1 in KV. Ranks: the previous members
//     still live in their old order, then newcomers by arrival; the size n is the largest
//     n <= min(live, maxWorkers) that divides the global batch. `prepare {generation, step S}`
//     to each: it fences older generations, aborts a collective in flight, rolls back a step S it
//     applied but nobody committed, and a step S-1 it applied that this scheduler did not see
//     committed by the worker's own generation (`committed {step, generation}`: a group without
//     it may have redone S-1) (a worker without a model builds the seeded initial one, which
//     is step 0); it answers whether it holds S. A holder becomes rank 0.
//     No holder: S = 0 starts from the seeded initial weights on every rank ('init'); otherwise
//     the last complete checkpoint is loaded into rank 0 over gRPC (LoadWeights) and S becomes
//     its step. `join {rank, members, source}`: rank 0 keeps its state ('have'), every rank
//     without S streams rank 0's weights and Adam state (StreamWeights) and loads them before
//     its first step ('peer'). Every rank answers the sha256 of its state; they must agree.
//     The change is recorded (metrics.jsonl kind 'membership'; joins and leaves counted apart
//     from failures).
//  d) Train, step s = S .. total-1: `step {generation, s}` to every rank at once; each computes
//     its slice of global batch s, the gradients are summed over the ring, every rank applies
//     the same Adam update. All answered: s is committed (the next `step` tells the workers).
//     Then the train record, progress, KV iteration = s+1; every evalEvery `evaluate
//     validation` on rank 0 and early stopping (rank 0's snapshot streamed when it is the best
//     so far); every checkpointEvery rank 0's snapshot streamed and written. Between steps:
//     a newcomer or a clean leave (deleted registration) forms a new generation at s+1 (c).
//     `gantry run pause` holds the run at the next boundary (status 'paused'; the workers keep
//     their state and registrations); at resume the same membership check runs first, so
//     workers started or lost during the pause change the group before the next step.
//  e) Failure of a step: a rank with no responders is dead; a rank whose registration is older
//     than livenessMs while the others wait is stalled (logged with its rank and host); silence
//     counts only while the scheduler could hear (not while NATS was down or stalled, nor while
//     the scheduler itself did not run: vantage.ts, as for the GAN's services). They are
//     dropped and step s is redone by a new generation (c): no update is half-applied, since
//     prepare rolls back the ranks that applied it. maxRecoveries failures in a row without a
//     committed step fail the run; membership changes never count.
//  f) End: as the in-process trainer: the best weights loaded into rank 0, `evaluate test`,
//     the final checkpoint, report; status 'completed' (or 'stopped' on a stop request).
import type { GrpcTls } from '../wire/tls.ts';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandFailed, RoleUnavailable, RunStateConflict } from '../control/errors.ts';
import { PeerError } from '../wire/errors.ts';
import { newInstanceId } from '../control/heartbeat.ts';
import { encodeMessage, type ProgressEvent } from '../control/messages.ts';
import { configHash } from '../control/run-config.ts';
import { runSubjects, type RunSubjects } from '../control/subjects.ts';
import { openWorkersBucket, WorkerRoster } from '../control/worker-registry.ts';
import { WORKSHOP_DECAY } from '../core/optim.ts';
import { loadImageSet } from '../data/mnist.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { Logger } from '../telemetry/log.ts';
import type { SchedulerMetrics } from '../telemetry/scheduler-metrics.ts';
import { type ClassifierTrainConfig, groupDivisor } from '../train/config.ts';
import { EarlyStopping } from '../train/early-stopping.ts';
import { openRun, type RunSession } from '../train/session.ts';
import { WorkerClient } from '../wire/worker-client.ts';
import type { WorkerOkReply } from '../control/worker-messages.ts';
import type { SchedulerConfig } from './config.ts';
import { GenerationFormer } from './generation-former.ts';
import { readRunEntry, RunLedger } from './ledger.ts';
import { RunControl } from './run-control.ts';
import type { SchedulerOutcome } from './scheduler.ts';
import { WorkerCommands, WorkerGroup } from './worker-group.ts';
import { Vantage } from './vantage.ts';

export class ClassifierScheduler {
  private readonly subjects: RunSubjects;
  private readonly instance = newInstanceId();
  private readonly hash: string;
  private readonly train: ClassifierTrainConfig;
  private ledger!: RunLedger;
  private session!: RunSession;
  private roster!: WorkerRoster;
  private group!: WorkerGroup;
  private vantage: Vantage | undefined;
  private former!: GenerationFormer;
  private control: RunControl | undefined;
  private signal: AbortSignal | undefined;
  private early!: EarlyStopping;
  /** The step the run (re)starts at, the whole global batches per epoch and the steps to run. */
  private start = 0;
  private stepsPerEpoch = 1;
  private total = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cfg: SchedulerConfig,
    train: ClassifierTrainConfig,
    private readonly log: Logger,
    private readonly metrics: SchedulerMetrics,
    /** Data-plane TLS of the weight streams to and from rank 0; unset: plaintext. */
    private readonly tls?: GrpcTls,
  ) {
    this.train = { ...train, out: cfg.runDir };
    this.subjects = runSubjects(cfg.runId, cfg.prefix);
    this.hash = configHash(this.train);
  }

  async run(signal: AbortSignal): Promise<SchedulerOutcome> {
    try {
      const early = await this.claim();
      if (early) return early;
      this.control = new RunControl(this.nc, this.subjects.control, this.cfg.runId, this.log, signal,
        (why) => this.log.warn(`${why}: stopping after this step with a checkpoint`));
      return await this.drive(signal);
    } catch (err) {
      if (err instanceof RunStateConflict) {
        this.log.error('another scheduler took this run over; stopping', { error: err });
        return { status: 'superseded', iteration: this.ledger?.state.iteration ?? 0, lastCheckpoint: this.ledger?.state.lastCheckpoint ?? null };
      }
      throw err;
    } finally {
      this.control?.close();
      this.roster?.stop();
      this.vantage?.stop();
    }
  }

  // a) b) ------------------------------------------------------------------------------------
  private async claim(): Promise<SchedulerOutcome | undefined> {
    const { store, prev, finished: state, reopened } = await readRunEntry(this.nc, this.cfg.runId, this.hash, this.train.resume);
    if (state) {
      this.log.info('run already finished', { run: state.runId, status: state.status, error: state.error });
      return { status: state.status, iteration: state.iteration, lastCheckpoint: state.lastCheckpoint, error: state.error };
    }
    await this.countSteps();
    const resume = this.train.resume || prev !== null;
    this.session = await openRun('classifier', { ...this.train, resume }, this.log);
    const early = new EarlyStopping(this.train.patience);
    let start = 0;
    let resumed: ModelSnapshot | undefined;
    if (resume) {
      start = await this.session.restore(async (snaps, iteration, extra) => {
        resumed = snaps.get('classifier')!;
        await early.restore(this.session, extra, iteration, () => resumed!, this.log);
      }).catch((err: unknown) => {
        if (this.train.resume) throw err;
        this.session.markResume(0, null); // a run in KV without a checkpoint to load starts afresh
        return 0;
      });
    }
    const lastCheckpoint = this.session.lastCheckpoint ? { iteration: start, path: path.relative(this.cfg.runDir, this.session.lastCheckpoint) } : null;
    const base = { status: 'recovering' as const, iteration: start, iterations: this.total, lastCheckpoint, error: undefined };
    if (reopened) this.log.info('run reopened (--resume)', { run: prev!.state.runId, was: prev!.state.status, step: start, steps: this.total });
    this.ledger = prev
      ? await RunLedger.takeOver(store, prev, base, this.instance)
      : await RunLedger.create(store, { runId: this.cfg.runId, ...base, generation: 0, configHash: this.hash }, this.instance);
    this.roster = await new WorkerRoster(await openWorkersBucket(this.nc), this.cfg.runId, this.log).start();
    const vantage = new Vantage(this.nc, this.log);
    this.vantage = vantage;
    const commands = new WorkerCommands(this.nc, this.cfg.runId, this.cfg.prefix, {
      mayBeResubscribing: (key) => this.group.mayBeResubscribing(key), reconnects: () => vantage.reconnects,
    });
    this.group = new WorkerGroup(commands, this.roster, this.cfg.runId,
      { commandTimeoutMs: this.cfg.commandTimeoutMs, livenessMs: this.cfg.livenessMs, pollMs: Math.min(250, this.cfg.heartbeatMs) }, this.log, this.vantage);
    this.former = new GenerationFormer(this.group, this.roster, this.ledger, this.session, this.train, this.hash, this.cfg, this.metrics, this.log, this.tls);
    this.early = early;
    this.start = start;
    return undefined;
  }

  /** As the in-process trainer: whole global batches per epoch over the training split. */
  private async countSteps(): Promise<void> {
    const train = await loadImageSet({ dir: this.train.data, split: 'train' });
    this.stepsPerEpoch = Math.floor((train.count - this.train.validationSize) / this.train.batchSize);
    const total = this.train.epochs * this.stepsPerEpoch;
    this.total = this.train.maxSteps > 0 ? Math.min(this.train.maxSteps, total) : total;
  }

  private publish(e: Omit<ProgressEvent, 'run' | 'total'>): void {
    this.nc.publish(this.subjects.progress, encodeMessage({ run: this.cfg.runId, total: this.total, ...e }));
  }

  // c) d) e) ---------------------------------------------------------------------------------
  private async drive(signal: AbortSignal): Promise<SchedulerOutcome> {
    this.signal = signal;
    let step = this.start;
    let failures = 0;
    let stoppedEarly = false;
    const began = performance.now();
    try {
      step = await this.former.form(step, signal);
      while (step < this.total && !stoppedEarly && !this.stopRequested) {
        if (await this.holdWhilePaused(step)) {
          if (this.stopRequested) break;
          // Workers may have joined or left while the run waited: the same check as after a step.
          if (this.group.wantsChange(this.maxWorkers(), groupDivisor(this.train))) step = await this.former.form(step, signal);
        }
        const r = await this.group.step(step);
        if (!r.ok) {
          failures++;
          this.log.warn('step failed; redoing it in a new generation', {
            step, generation: this.group.generation, failures, cause: r.cause.message,
            dead: r.dead.map((m) => ({ rank: m.rank, host: m.host })), stalled: r.stalled.map((m) => ({ rank: m.rank, host: m.host })),
          });
          if (r.cause instanceof CommandFailed && r.cause.code === 'non-finite') throw r.cause;
          if (failures > this.cfg.maxRecoveries) throw new Error(`step ${step} failed ${failures} times in a row (max ${this.cfg.maxRecoveries}): ${r.cause.message}`, { cause: r.cause });
          this.group.drop([...r.dead, ...r.stalled].map((m) => m.key));
          step = await this.former.form(step, signal);
          continue;
        }
        failures = 0;
        this.former.committed(step);
        const done = step + 1;
        const epoch = Math.floor(step / this.stepsPerEpoch);
        const images = r.replies.reduce((n, x) => n + x.images, 0);
        const wait = Math.max(...r.replies.map((x) => (x.seconds > 0 ? x.waitSeconds / x.seconds : 0)));
        this.session.metrics.append({
          kind: 'train', step: done, epoch, loss: r.reply.loss, accuracy: r.reply.accuracy,
          lr: this.learningRate(done), elapsedSeconds: (performance.now() - began) / 1000, workers: this.group.members.length, generation: this.group.generation, waitShare: wait,
          ...stepBreakdown(r.replies),
        });
        this.metrics.iteration.set(done);
        this.metrics.iterations.inc();
        this.metrics.imagesPerSecond.set(images / Math.max(1e-9, Math.max(...r.replies.map((x) => x.seconds))));
        await this.ledger.patch({ iteration: done });
        this.publish({ iteration: done, status: 'running', loss: r.reply.loss, accuracy: r.reply.accuracy });
        step = done;
        if (done % this.train.evalEvery === 0 || done === this.total) stoppedEarly = await this.validate(done, epoch);
        const last = done === this.total || stoppedEarly || this.stopRequested;
        if (done % this.train.checkpointEvery === 0 && !last) await this.checkpoint(done, await this.early.checkpointExtra(this.session, done));
        if (!last && this.group.wantsChange(this.maxWorkers(), groupDivisor(this.train))) step = await this.former.form(step, signal);
      }
      return await this.finish(step, step >= this.total || stoppedEarly);
    } catch (err) {
      if (err instanceof RunStateConflict) throw err;
      this.log.error('run failed', { step, error: err });
      await this.session.fail(err, step);
      const details = err instanceof CommandFailed ? err.details : { code: 'internal' as const, message: (err as Error).message };
      await this.ledger.patch({ status: 'failed', error: details }).catch(() => undefined);
      this.publish({ iteration: step, status: 'failed', message: details.message });
      return { status: 'failed', iteration: step, lastCheckpoint: this.ledger.state.lastCheckpoint, error: details };
    }
  }

  private get stopRequested(): boolean {
    return this.control?.stopRequested ?? false;
  }

  /** `gantry run pause`: waits between steps until resume or stop; true when it waited. */
  private holdWhilePaused(step: number): Promise<boolean> {
    return this.control!.holdWhilePaused({
      onPause: async () => {
        await this.ledger.patch({ status: 'paused' });
        this.metrics.runPaused.set(1);
        this.publish({ iteration: step, status: 'paused', message: 'paused; `gantry run resume` continues' });
        this.log.info('paused', { step, generation: this.group.generation, workers: this.group.members.length });
      },
      onResume: async () => {
        await this.ledger.patch({ status: 'running' });
        this.metrics.runPaused.set(0);
        this.log.info('resumed', { step });
      },
    });
  }

  /** The rate the next update uses, as Adam.learningRate() after `done` updates. */
  private learningRate(done: number): number {
    const { lr, lrDecay } = this.train;
    return lrDecay ? lr * Math.pow(WORKSHOP_DECAY.decayRate, done / WORKSHOP_DECAY.decaySteps) : lr;
  }

  private maxWorkers(): number {
    return this.train.maxWorkers ?? Math.max(this.train.workers, this.train.minWorkers ?? 1);
  }

  /** Validation on rank 0 and early stopping; true when the run should stop. */
  private async validate(done: number, epoch: number): Promise<boolean> {
    const v = await this.rank0Command('evaluate', { split: 'validation' });
    this.session.metrics.append({ kind: 'validation', step: done, epoch, loss: v.loss, accuracy: v.accuracy });
    this.log.info('validation', { step: done, loss: v.loss, accuracy: v.accuracy });
    let snapshot: ModelSnapshot | undefined;
    if (!this.early.best || v.loss < this.early.best.loss) snapshot = (await this.rank0Weights()).snapshot;
    let stop = false;
    if (this.early.observe(v.loss, done, () => snapshot!)) {
      this.log.info('early stopping: validation loss did not improve', { patience: this.train.patience, bestStep: this.early.best?.step });
      stop = true;
    }
    if (this.train.stopBelowValLoss !== undefined && v.loss < this.train.stopBelowValLoss) {
      this.log.info('early stopping: validation loss below the threshold', { threshold: this.train.stopBelowValLoss });
      stop = true;
    }
    return stop;
  }

  private rank0Command(type: 'evaluate', body: { split: 'validation' | 'test' }) {
    return this.viaRank0(`evaluate ${body.split}`, () => this.group.commands.send<'evaluate'>(this.group.members[0].key,
      { type, run: this.cfg.runId, generation: this.group.generation, ...body }, this.cfg.evalTimeoutMs));
  }

  private rank0Weights() {
    return this.viaRank0('stream weights', async () => {
      const client = new WorkerClient(this.group.members[0].addr, { deadlineMs: this.cfg.commandTimeoutMs, tls: this.tls });
      try {
        return await client.streamWeights();
      } finally {
        client.close();
      }
    });
  }

  /**
   * e) for the work only rank 0 does (validation, snapshots): when rank 0 dies or stalls, a new
   * generation is formed at the same committed step (another rank holds it and becomes rank 0)
   * and the call is repeated. A generation that had to roll back to a checkpoint fails the run.
   */
  private async viaRank0<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let stalledRetries = 0;
    for (let failures = 0; ; failures++) {
      const began = Date.now();
      try {
        return await fn();
      } catch (err) {
        // The scheduler itself did not run during the call (SIGSTOP): its deadline ran out on our clock.
        if (isMemberFailure(err) && (this.vantage?.trustedSince() ?? 0) > began && stalledRetries++ < 3) {
          this.log.warn(`the scheduler did not run during '${what}'; calling rank 0 again`, { error: (err as Error).message });
          failures--;
          continue;
        }
        if (!isMemberFailure(err) || failures >= this.cfg.maxRecoveries) throw err;
        const r0 = this.group.members[0];
        const step = this.ledger.state.iteration;
        this.log.warn(`rank 0 failed during '${what}'; forming a new generation`, { rank: 0, host: r0.host, key: r0.key, step, error: (err as Error).message });
        const gone = (): boolean => !this.group.isFresh(r0.key);
        if (!(err instanceof RoleUnavailable && err.reason === 'no-responders')) await this.roster.waitUntil(gone, this.cfg.livenessMs + 500);
        if (gone() || err instanceof RoleUnavailable) this.group.drop([r0.key]);
        const start = await this.former.form(step, this.signal ?? new AbortController().signal);
        if (start !== step) throw new Error(`no live worker held step ${step} after rank 0 failed; the group rolled back to step ${start}`, { cause: err });
      }
    }
  }

  private async checkpoint(step: number, extra: Record<string, unknown>): Promise<void> {
    const { snapshot } = await this.rank0Weights();
    const dir = await this.session.checkpoint(step, [snapshot], extra);
    await this.ledger.patch({ lastCheckpoint: { iteration: step, path: path.relative(this.cfg.runDir, dir) } });
  }

  /** Every rank's sha256 of its state, into metrics.jsonl (kind 'weights'); they must agree. */
  private async recordHashes(step: number): Promise<void> {
    const hashes = await Promise.all(this.group.members.map((m) => this.group.commands.send<'hash'>(m.key,
      { type: 'hash', run: this.cfg.runId, generation: this.group.generation }, this.cfg.commandTimeoutMs)));
    const ranks = this.group.members.map((m, i) => ({ rank: m.rank, key: m.key, applied: hashes[i].applied, weightsHash: hashes[i].weightsHash }));
    this.session.metrics.append({ kind: 'weights', step, generation: this.group.generation, ranks });
    if (new Set(ranks.map((r) => r.weightsHash)).size !== 1) throw new Error(`step ${step}: the ranks' weights differ (${ranks.map((r) => `rank ${r.rank} ${r.weightsHash.slice(0, 12)}`).join(', ')})`);
  }

  // f) ---------------------------------------------------------------------------------------
  private async finish(step: number, finished: boolean): Promise<SchedulerOutcome> {
    await this.recordHashes(step);
    if (!finished) await this.finalCheckpoint(step, await this.early.checkpointExtra(this.session, step));
    const best = this.early.best;
    if (best && best.step !== step) {
      await this.viaRank0('load the best weights', async () => {
        const r0 = this.group.members[0];
        await this.group.commands.send(r0.key, { type: 'load', run: this.cfg.runId, generation: this.group.generation, step: best.step }, this.cfg.commandTimeoutMs);
        const client = new WorkerClient(r0.addr, { deadlineMs: this.cfg.commandTimeoutMs, tls: this.tls });
        try {
          await client.loadWeights({ snapshot: best.snapshot, lastApplied: { iteration: best.step - 1, step: 0 } });
        } finally {
          client.close();
        }
      });
    }
    const t = await this.rank0Command('evaluate', { split: 'test' });
    this.session.metrics.append({ kind: 'test', step, loss: t.loss, accuracy: t.accuracy });
    this.log.info('test', { loss: t.loss, accuracy: t.accuracy, bestStep: best?.step ?? step });
    if (finished) await this.finalCheckpoint(step, {});
    const status = finished ? 'completed' : 'stopped';
    await this.session.finish(status);
    await this.ledger.patch({ status, iteration: step });
    this.publish({ iteration: step, status, message: `test accuracy ${(100 * t.accuracy).toFixed(2)}% (loss ${t.loss.toFixed(4)})` });
    return { status, iteration: step, lastCheckpoint: this.ledger.state.lastCheckpoint };
  }

  private async finalCheckpoint(step: number, extra: Record<string, unknown>): Promise<void> {
    if (this.session.lastCheckpoint && this.session.lastCheckpointIteration === step) return;
    await this.checkpoint(step, extra);
  }
}

/**
 * Where a step's time went, for the train record: the slowest rank's seconds, and the ranks' mean
 * seconds of compute (everything outside collectives: forward, backward, fusing the gradients,
 * Adam), of waiting on the fused gradient all-reduce and on sync batch norm's collectives, and the
 * collectives per step. The scheduler's own share (NATS round trips, bookkeeping) is the step's
 * wall time (elapsedSeconds from one record to the next) minus stepSeconds.
 */
function stepBreakdown(replies: readonly WorkerOkReply<'step'>[]): Record<string, number> {
  const mean = (f: (x: WorkerOkReply<'step'>) => number): number => replies.reduce((a, x) => a + f(x), 0) / replies.length;
  return {
    stepSeconds: Math.max(...replies.map((x) => x.seconds)),
    computeSeconds: mean((x) => x.seconds - x.waitSeconds),
    gradsWaitSeconds: mean((x) => x.gradsWaitSeconds),
    syncBnWaitSeconds: mean((x) => x.waitSeconds - x.gradsWaitSeconds),
    collectives: replies[0].collectives,
  };
}

/** A member that died, stalled or left its generation (as opposed to a bad request or NaN). */
function isMemberFailure(err: unknown): boolean {
  if (err instanceof RoleUnavailable || err instanceof PeerError) return true;
  return err instanceof CommandFailed && ['peer-unavailable', 'stale-generation', 'not-ready'].includes(err.code);
}
