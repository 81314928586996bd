// The scheduler: drives one distributed GAN run over NATS. It holds no model; it only orders
// the services' steps, records the run, and recovers from deaths.
//
// Protocol (subjects under <prefix>.<run>.; messages in control/messages.ts):
//  a) Claim. Read the run's entry in KV bucket gantry_runs. None: create it (status
//     'recovering', iteration 0, or the latest complete checkpoint on disk when resuming). One
//     with a final status: report it and stop. One with another config hash: refuse. Otherwise
//     take it over with a compare-and-set naming this scheduler. Every later KV write is a
//     compare-and-set too; losing one means another scheduler owns the run: stop at once.
//  b) Gather. Wait until the generator and the discriminator heartbeat ready on hb.<role>.
//     After a loss, each must have beaten since the loss, and the lost role must be a new
//     instance (or the old one must have kept beating for a whole liveness window).
//  c) Form a generation. generation += 1 in KV; send `restore` {generation, config, configHash,
//     checkpoint} to both: each builds its model from the seeded initial weights and answers
//     with the backend it computes on (into run.json); with a checkpoint (the last complete one
//     recorded in KV, never a .partial one) each arms LoadWeights and the scheduler streams the
//     checkpoint's snapshots in over gRPC (checkpointer.ts; services mount no run directory). The run
//     continues at the checkpoint's iteration. Services execute only commands stamped with the
//     generation they were restored into.
//  d) Train, iteration t = start .. iterations-1 (Goodfellow et al. 2014, Algorithm 1):
//     for s in 0..k-1: `d-step` (t, s) to the discriminator (it fetches G(z) over gRPC);
//     then `g-step` (t, k) to the generator (it fetches dL_G/dG(z') over gRPC). Then append the
//     train record, publish progress, KV iteration = t+1. Every sampleEvery: `sample` to the
//     generator, which answers the PNG; the scheduler writes it. Every checkpointEvery:
//     `checkpoint` {iteration} to both (each checks its progress), then StreamWeights from both
//     over gRPC; the scheduler writes the files into checkpoints/iter-N.partial, commits the
//     manifest (rename to iter-N), records it in KV, prunes old ones.
//     Every evalEvery: `eval` {iteration} to the generator (its own deadline and liveness
//     window, evalTimeoutMs), which scores G; the scores go to metrics.jsonl and /metrics.
//     Between iterations: `pause` / `resume` / `stop` from the control subject, and SIGTERM.
//  e) Loss. A command that times out (after retries while heartbeats continue), finds no
//     responders, or reports an unreachable peer or a restarted service: log which role is
//     dead, status 'recovering', go to b). Too many recoveries without progress fail the run.
//  f) Failure. NaN/Inf (a 'non-finite' answer), any other error answer, or an answer that
//     contradicts its command (StepFault: a step sent once but answered applied=false): status
//     'failed' with the quantity (or role) and iteration in KV, run.json and metrics.jsonl; the
//     last good checkpoint stays as it is.
//  g) End. A final checkpoint at the last iteration, status 'completed' (or 'stopped').
//     report.html is written at the end of every run that gets to f) or g) (best effort).
import type { GrpcTls } from '../wire/tls.ts';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { CommandFailed, type RemoteErrorDetails, RunStateConflict } from '../control/errors.ts';
import { newInstanceId } from '../control/heartbeat.ts';
import type { CheckpointRef, DStepReplyMetrics, OkReply } from '../control/messages.ts';
import { type RunStatus, type RunStateStore, type VersionedRunState } from '../control/run-state.ts';
import { configHash } from '../control/run-config.ts';
import { runSubjects, type RunSubjects, type ServiceRole } from '../control/subjects.ts';
import { resumePoint } from '../run/checkpoint-list.ts';
import { RunWriteError } from '../run/errors.ts';
import type { Logger } from '../telemetry/log.ts';
import type { SchedulerMetrics } from '../telemetry/scheduler-metrics.ts';
import { ConfigError, type GanTrainConfig, resumeKey } from '../train/config.ts';
import { Checkpointer } from './checkpointer.ts';
import type { SchedulerConfig } from './config.ts';
import { RunEvaluation } from './evaluation.ts';
import { Fleet, RecoveryTimeout, ServiceLost, StepFault, type StepBody } from './fleet.ts';
import { readRunEntry, RunLedger } from './ledger.ts';
import { RunControl } from './run-control.ts';
import { type IterationResult, RunRecords } from './run-records.ts';
import { ServiceSnapshots } from './snapshots.ts';

export interface SchedulerOutcome {
  status: RunStatus | 'superseded' | 'interrupted';
  /** Iterations completed. */
  iteration: number;
  lastCheckpoint: CheckpointRef | null;
  error?: RemoteErrorDetails;
}

export class Scheduler {
  private readonly subjects: RunSubjects;
  private readonly instance = newInstanceId();
  private readonly hash: string;
  private readonly fleet: Fleet;
  private readonly snapshots: ServiceSnapshots;
  private ledger!: RunLedger;
  private records!: RunRecords;
  private checkpointer!: Checkpointer;
  private evaluation!: RunEvaluation;
  private control: RunControl | undefined;

  /** The run's training config, with `out` set to this scheduler's run directory. */
  private readonly train: GanTrainConfig;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cfg: SchedulerConfig,
    train: GanTrainConfig,
    private readonly log: Logger,
    private readonly metrics: SchedulerMetrics,
    /** Data-plane TLS of the snapshot streams (the scheduler's certificate under mTLS); unset: plaintext. */
    tls?: GrpcTls,
  ) {
    this.train = { ...train, out: cfg.runDir };
    this.subjects = runSubjects(cfg.runId, cfg.prefix);
    this.hash = configHash(train);
    const replicas = train.discriminatorReplicas ?? 1;
    this.fleet = new Fleet(nc, this.subjects, cfg, log, { discriminator: replicas });
    this.snapshots = new ServiceSnapshots({
      generatorAddr: cfg.generatorAddr, discriminatorAddrs: discriminatorAddrs(cfg, replicas), deadlineMs: cfg.commandTimeoutMs, metrics, tls,
      instanceOf: (role) => this.fleet.members.get(role)?.hb.instance,
      trustedSince: () => this.fleet.vantage.trustedSince(), log,
    });
  }

  async run(signal: AbortSignal): Promise<SchedulerOutcome> {
    try {
      const early = await this.claim();
      if (early) return early;
      this.control = new RunControl(this.nc, this.subjects.control, this.cfg.runId, this.log, signal);
      return await this.drive(signal);
    } catch (err) {
      if (err instanceof RunStateConflict) return this.superseded(err);
      throw err;
    } finally {
      this.control?.close();
      this.fleet.stop();
      this.snapshots.close();
      this.records?.close();
    }
  }

  // a) ---------------------------------------------------------------------------------------
  private async claim(): Promise<SchedulerOutcome | undefined> {
    const { store, prev, finished: state, reopened } = await readRunEntry(this.nc, this.cfg.runId, this.hash, this.train.resume);
    if (state) {
      this.log.info('run already finished', { run: state.runId, status: state.status, error: state.error });
      return { status: state.status, iteration: state.iteration, lastCheckpoint: state.lastCheckpoint, error: state.error };
    }
    this.ledger = prev ? await this.takeOver(store, prev, reopened ?? false) : await this.create(store);
    this.checkpointer = new Checkpointer(this.fleet, this.snapshots, this.ledger, this.records, this.train, this.cfg.runDir, this.metrics, this.log);
    this.evaluation = new RunEvaluation(this.fleet, this.records, this.train, this.cfg.evalTimeoutMs, this.metrics, this.log);
    return undefined;
  }

  /** A new run: a fresh run directory, or (resume) the latest complete checkpoint already in it. */
  private async create(store: RunStateStore): Promise<RunLedger> {
    this.records = await RunRecords.open(this.cfg.runDir, this.train, this.train.resume, this.events(), this.log, this.cfg.progress);
    const start = this.train.resume ? await this.latestOnDisk() : null;
    const ledger = await RunLedger.create(store, {
      runId: this.cfg.runId, status: 'recovering', iteration: start?.iteration ?? 0, iterations: this.train.iterations,
      lastCheckpoint: start, generation: 0, configHash: this.hash,
    }, this.instance);
    this.log.info('run created', { run: this.cfg.runId, from: start?.path ?? 'initial weights' });
    return ledger;
  }

  /** A run in KV (another scheduler died, stopped, or is about to lose it): same config, its run directory. */
  private async takeOver(store: RunStateStore, prev: VersionedRunState, reopened: boolean): Promise<RunLedger> {
    const { state } = prev;
    this.records = await RunRecords.open(this.cfg.runDir, this.train, true, this.events(), this.log, this.cfg.progress);
    const ledger = await RunLedger.takeOver(store, prev, { status: 'recovering', iterations: this.train.iterations, error: undefined }, this.instance);
    if (reopened) this.log.info('run reopened (--resume)', { run: state.runId, was: state.status, iteration: state.iteration, iterations: this.train.iterations });
    this.log.info('run taken over from KV', { run: state.runId, iteration: state.iteration, lastCheckpoint: state.lastCheckpoint?.path ?? null, generation: state.generation });
    return ledger;
  }

  private events(): { nc: NatsConnection; subjects: RunSubjects } {
    return { nc: this.nc, subjects: this.subjects };
  }

  /** The newest complete checkpoint of the run directory (half-written and damaged ones are skipped). */
  private async latestOnDisk(): Promise<CheckpointRef | null> {
    const found = await resumePoint(this.records.run.checkpoints, {
      onWarning: (w) => this.log.warn(w), restartFromScratch: this.train.restartFromScratch,
    });
    if (!found) return null;
    if (resumeKey(found.manifest.config as GanTrainConfig) !== resumeKey(this.train)) {
      throw new ConfigError(`cannot resume ${this.cfg.runDir}: ${found.dir} was written with another configuration`);
    }
    return { iteration: found.iteration, path: path.relative(this.cfg.runDir, found.dir) };
  }

  // b) - g) -----------------------------------------------------------------------------------
  private async drive(signal: AbortSignal): Promise<SchedulerOutcome> {
    let lost: ServiceLost | undefined;
    let since = Date.now();
    let recoveries = 0;
    for (;;) {
      try {
        const start = await this.form(lost, since, signal);
        lost = undefined;
        const end = await this.trainFrom(start, signal, () => { recoveries = 0; });
        return await this.finish(end);
      } catch (err) {
        if (err instanceof ServiceLost && recoveries < this.cfg.maxRecoveries && !signal.aborted) {
          recoveries++;
          lost = err;
          since = Date.now();
          await this.onLoss(err);
          continue;
        }
        if (err instanceof RunStateConflict) throw err;
        if (signal.aborted && !(err instanceof CommandFailed)) return this.interrupted();
        return this.fail(err);
      }
    }
  }

  // b) c)
  private async form(lost: ServiceLost | undefined, since: number, signal: AbortSignal): Promise<number> {
    await this.fleet.awaitServices(lost, since, signal);
    // Above every generation a service reports too, in case the KV entry is younger than the services.
    const seen = Math.max(0, ...this.fleet.members.all().map((m) => m.hb.generation ?? 0));
    const generation = Math.max(this.ledger.state.generation, seen) + 1;
    const checkpoint = this.ledger.state.lastCheckpoint;
    await this.ledger.patch({ generation, status: 'recovering' });
    this.fleet.generation = generation;
    this.metrics.generation.set(generation);
    this.log.info('forming generation', {
      generation, from: checkpoint?.path ?? 'initial weights', iteration: checkpoint?.iteration ?? 0,
      members: this.fleet.members.all().map((m) => `${m.hb.role}:${m.hb.instance}`),
    });
    await this.records.backends(await this.checkpointer.restore(this.hash, checkpoint));
    const start = checkpoint?.iteration ?? 0;
    await this.ledger.patch({ status: 'running', iteration: start });
    this.records.begin(start);
    return start;
  }

  // d)
  private async trainFrom(start: number, signal: AbortSignal, progressed: () => void): Promise<number> {
    const { iterations, sampleEvery, checkpointEvery } = this.train;
    let t = start;
    for (; t < iterations; t++) {
      if (await this.atBoundary(signal, t)) break;
      const m = await this.iteration(t);
      const done = t + 1;
      const itPerSec = this.records.trainRecord(done, m);
      this.observe(done, m, itPerSec);
      await this.ledger.patch({ iteration: done });
      progressed();
      if (done % sampleEvery === 0 || done === iterations) await this.checkpointer.sample(done);
      if (done % checkpointEvery === 0) await this.checkpointer.checkpoint(done);
      await this.evaluation.maybeEvaluate(done);
    }
    return t;
  }

  /** One iteration t: k D-steps, then one G-step. */
  private async iteration(t: number): Promise<IterationResult> {
    const k = this.train.dSteps;
    let d: DStepReplyMetrics | undefined;
    for (let s = 0; s < k; s++) {
      const end = this.metrics.stepDuration.startTimer({ phase: 'd_step' });
      d = await this.step('discriminator', 'd-step', t, s);
      end();
    }
    const end = this.metrics.stepDuration.startTimer({ phase: 'g_step' });
    const g = await this.step('generator', 'g-step', t, k);
    end();
    const { lossD, dReal, dFake, gp, lr } = d!; // k >= 1
    return { lossD, lossG: g.lossG, dReal, dFake, ...(gp === undefined ? {} : { gp }), lrD: lr, lrG: g.lr };
  }

  /**
   * One step command and its answer's metrics. Every step of a generation is sent once and must
   * be applied by that command: applied=false on the first attempt means the service's weights
   * had already moved past (t, s) by some other way, and the run stops with a StepFault instead of
   * training on silently frozen weights. On a re-sent attempt applied=false is the expected
   * answer (the lost first attempt was applied).
   */
  private async step<T extends 'd-step' | 'g-step'>(role: ServiceRole, type: T, iteration: number, step: number): Promise<OkReply<T>['metrics']> {
    const body = { iteration, step } as StepBody<T>;
    const replies = await this.fleet.callGroup(role, type, body); // every rank of a replica group
    for (const { rank, reply, attempts } of replies) {
      if (!reply.metrics.applied && attempts === 1) {
        const who = replies.length > 1 ? `${role} rank ${rank}` : role;
        throw new StepFault(role, iteration, step, `applied=false on the first attempt: the ${who} had already applied it (its weights moved by a request this scheduler did not send)`);
      }
    }
    // A group's ranks answer the same metrics (losses and outputs are summed over the group).
    return replies[0].reply.metrics as OkReply<T>['metrics'];
  }

  private observe(done: number, m: IterationResult, itPerSec: number): void {
    this.metrics.iteration.set(done);
    this.metrics.iterations.inc();
    this.metrics.imagesPerSecond.set(itPerSec * this.train.batchSize * this.train.dSteps); // real images D consumes
    this.metrics.loss.set({ loss: 'd' }, m.lossD);
    this.metrics.loss.set({ loss: 'g' }, m.lossG);
    if (m.gp !== undefined) this.metrics.loss.set({ loss: 'gp' }, m.gp);
    this.metrics.dOutputMean.set({ input: 'real' }, m.dReal);
    this.metrics.dOutputMean.set({ input: 'fake' }, m.dFake);
  }

  /** Pause, stop and SIGTERM take effect here, between iterations. True: stop now. */
  private async atBoundary(signal: AbortSignal, t: number): Promise<boolean> {
    const control = this.control!;
    await control.holdWhilePaused({
      onPause: async () => {
        await this.ledger.patch({ status: 'paused' });
        this.metrics.runPaused.set(1);
        this.records.status(t, 'paused', 'paused; `gantry run resume` continues');
        this.log.info('paused', { iteration: t });
      },
      onResume: async () => {
        await this.ledger.patch({ status: 'running' });
        this.metrics.runPaused.set(0);
        this.log.info('resumed', { iteration: t });
      },
    });
    return control.stopRequested || signal.aborted;
  }

  // e)
  private async onLoss(err: ServiceLost): Promise<void> {
    const back = this.ledger.state.lastCheckpoint;
    this.log.warn(`${err.role} is dead: ${err.message}; waiting for a new instance, then resuming from ${back?.path ?? 'the initial weights'}`, {
      role: err.role, instance: err.instance ?? null, iteration: this.ledger.state.iteration,
    });
    this.records.status(this.ledger.state.iteration, 'recovering', `${err.role} is dead; resuming from ${back?.path ?? 'the initial weights'}`);
    await this.ledger.patch({ status: 'recovering' });
  }

  // f)
  private async fail(err: unknown): Promise<SchedulerOutcome> {
    const details = failureDetails(err);
    const last = this.ledger.state.lastCheckpoint;
    const message = details.code === 'non-finite'
      ? `${details.quantity ?? 'a value'} became non-finite at iteration ${details.iteration ?? '?'}; the run is stopped and the last good checkpoint (${last?.path ?? 'none'}) is kept`
      : details.code === 'write-failed'
        ? `${details.message}; the run is stopped and the last good checkpoint (${last?.path ?? 'none'}) is kept`
        : `run failed: ${details.message}`;
    this.log.error(message, { ...details, lastCheckpoint: last?.path ?? null });
    await this.ledger.patch({ status: 'failed', error: { ...details, message } });
    await this.records.fail(message, this.ledger.state.iteration);
    return { status: 'failed', iteration: this.ledger.state.iteration, lastCheckpoint: last, error: { ...details, message } };
  }

  // g)
  private async finish(t: number): Promise<SchedulerOutcome> {
    if (this.ledger.state.lastCheckpoint?.iteration !== t && t > 0) await this.checkpointer.checkpoint(t);
    const status = t >= this.train.iterations ? 'completed' : 'stopped';
    await this.ledger.patch({ status, iteration: t });
    await this.records.finish(status, t);
    this.log.info(`run ${status}`, { iteration: t, lastCheckpoint: this.ledger.state.lastCheckpoint?.path ?? null });
    return { status, iteration: t, lastCheckpoint: this.ledger.state.lastCheckpoint };
  }

  private interrupted(): SchedulerOutcome {
    this.log.warn('interrupted while recovering; the run state stays in KV for the next scheduler');
    return { status: 'interrupted', iteration: this.ledger.state.iteration, lastCheckpoint: this.ledger.state.lastCheckpoint };
  }

  private superseded(err: RunStateConflict): SchedulerOutcome {
    this.log.error('another scheduler has taken this run over; stopping without touching it', { run: err.runId });
    return { status: 'superseded', iteration: this.ledger?.state.iteration ?? 0, lastCheckpoint: this.ledger?.state.lastCheckpoint ?? null };
  }
}

function failureDetails(err: unknown): RemoteErrorDetails {
  // The file and its cause, once: "discriminator: cannot write F: ENOSPC (no space left on device)".
  if (err instanceof CommandFailed && err.code === 'write-failed') return { ...err.details, role: err.role, message: `${err.role}: ${err.details.message}` };
  if (err instanceof RunWriteError) return { code: 'write-failed', message: `scheduler: ${err.message}`, file: err.file, role: 'scheduler' };
  if (err instanceof CommandFailed) return { ...err.details, message: err.message };
  if (err instanceof RecoveryTimeout || err instanceof ServiceLost) return { code: 'peer-unavailable', message: err.message };
  if (err instanceof StepFault) return { code: 'unexpected-reply', message: err.message, role: err.role, iteration: err.iteration };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}


/** The discriminator ranks' addresses: GANTRY_DISCRIMINATOR_ADDRS for a replica group, else the one address. */
function discriminatorAddrs(cfg: SchedulerConfig, replicas: number): string[] {
  if (replicas === 1) return [cfg.discriminatorAddrs?.[0] ?? cfg.discriminatorAddr];
  const addrs = cfg.discriminatorAddrs;
  if (addrs?.length !== replicas) {
    throw new ConfigError(`discriminatorAddrs (GANTRY_DISCRIMINATOR_ADDRS): the run has ${replicas} discriminator replicas, so every rank's host:port in rank order, found ${addrs?.length ?? 0} address(es)`);
  }
  return addrs;
}
