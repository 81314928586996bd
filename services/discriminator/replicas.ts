// The discriminator as a replica group (`gantry train gan --discriminator-replicas N`): this
// process is rank r of N. What the group shares:
//   - one ring over services/collective per generation: every rank's `restore` for generation g
//     closes the previous ring and opens g's (connected before the restore answers, so the first
//     step starts on a formed ring; a rank that cannot be reached fails the restore, not a step);
//   - collectives stamped (run, generation, step) with step = t (k + 1) + s: D-step (t, s) for
//     s < k, the G-step's dL_G/dG(z') for s = k, so no two passes of a generation share a stamp;
//   - the G-step's fan-out: the generator calls rank 0 alone (GeneratorGrad with the whole batch,
//     B rows). Rank 0 sends rows [r b, (r + 1) b) (b = B / N) to rank r over the same RPC, computes
//     its own rows, and answers the generator with the N slices of dL_G/dG(z') concatenated in
//     rank order: the generator needs no knowledge of the group, and its one call returns exactly
//     the one-process gradient. Ranks >= 1 take GeneratorGrad with their b rows only.
// A step whose collective fails changes nothing on this rank (core/parallel assigns nothing before
// the last sum); the command fails 'peer-unavailable' and the scheduler re-forms the generation
// and restores every rank from the last checkpoint, as for a dead discriminator.
import { ServiceError } from '../control/errors.ts';
import type { ReplicaGroup } from '../core/parallel/mod.ts';
import type { CollectiveMetrics } from '../telemetry/collective-metrics.ts';
import type { Logger } from '../telemetry/log.ts';
import { DiscriminatorClient } from '../wire/discriminator-client.ts';
import type { GrpcTls } from '../wire/tls.ts';
import { CollectiveEndpoint, CollectiveError, type GroupHandle, openGroup } from '../collective/index.ts';

export interface DiscriminatorReplicasOptions {
  runId: string;
  rank: number;
  /** Every rank's gRPC address, rank order. */
  addresses: readonly string[];
  /** Deadline of one collective and of one fan-out call, ms. */
  timeoutMs: number;
  metrics: CollectiveMetrics;
  log: Logger;
  tls?: GrpcTls;
}

interface Current { generation: number; handle: GroupHandle; syncBatchNorm: boolean }

export class DiscriminatorReplicas {
  readonly rank: number;
  readonly size: number;
  /** The ring's inbound streams (on this process's gRPC server, for every generation). */
  readonly endpoint: CollectiveEndpoint;
  private current: Current | undefined;
  /** Rank 0 only: clients of ranks 1..N-1 (index r - 1), for the G-step's fan-out. */
  private followerClients: DiscriminatorClient[] | undefined;

  constructor(private readonly opts: DiscriminatorReplicasOptions) {
    this.rank = opts.rank;
    this.size = opts.addresses.length;
    this.endpoint = new CollectiveEndpoint({ runId: opts.runId });
    opts.metrics.replicas.set(this.size);
  }

  /** Closes the previous generation's ring and opens (and connects) generation `generation`'s. */
  async open(generation: number, syncBatchNorm: boolean): Promise<void> {
    this.closeRing();
    const handle = openGroup({
      runId: this.opts.runId, generation, rank: this.rank, addresses: this.opts.addresses, endpoint: this.endpoint,
      // The neighbour opens its ring only once its own restore has built the model and loaded the
      // data (seconds on a busy machine): give it the whole RPC deadline, not the ring's 10 s.
      collectiveMs: this.opts.timeoutMs, connectMs: this.opts.timeoutMs, metrics: this.opts.metrics, tls: this.opts.tls,
    });
    try {
      await handle.connect();
    } catch (err) {
      handle.close();
      throw new ServiceError('peer-unavailable', `generation ${generation}: discriminator rank ${this.rank} cannot reach its ring neighbour: ${(err as Error).message}`,
        { role: 'discriminator' }, { cause: err });
    }
    this.current = { generation, handle, syncBatchNorm };
    this.opts.log.info('replica group formed', { generation, rank: this.rank, size: this.size });
  }

  /** The group of collective step `stepIndex` (t (k + 1) + s) for the math core. */
  group(stepIndex: number): ReplicaGroup {
    const c = this.current;
    if (!c) throw new ServiceError('not-ready', `discriminator rank ${this.rank} has no replica group yet (no restore)`);
    c.handle.step = stepIndex;
    return { rank: this.rank, size: this.size, sum: c.handle.sum, gather: c.handle.gather, syncBatchNorm: c.syncBatchNorm };
  }

  /** Rank 0: a client per follower (rank r at index r - 1). */
  followers(): DiscriminatorClient[] {
    if (this.rank !== 0) throw new RangeError(`only rank 0 fans the G-step out, this is rank ${this.rank}`);
    this.followerClients ??= this.opts.addresses.slice(1).map((a) => new DiscriminatorClient(a, { deadlineMs: this.opts.timeoutMs, tls: this.opts.tls }));
    return this.followerClients;
  }

  private closeRing(): void {
    this.current?.handle.close();
    this.current = undefined;
  }

  close(): void {
    this.closeRing();
    for (const c of this.followerClients ?? []) c.close();
    this.followerClients = undefined;
  }
}

/** A failed collective is a lost peer (another rank died or stalled): 'peer-unavailable' for the scheduler. */
export function asPeerFailure(err: unknown, what: string, rank: number): unknown {
  if (!(err instanceof CollectiveError)) return err;
  return new ServiceError('peer-unavailable', `${what} failed on discriminator rank ${rank}: ${err.message}`, { role: 'discriminator' }, { cause: err });
}
