// The scheduler's data-plane side: it moves the services' snapshots, and it alone. The scheduler
// is the run directory's only writer, so the model services need no shared or writable volume.
//
//   pull(role, iteration)  StreamWeights from the role: its weights, batch-norm state and Adam
//                          state, checked to include exactly iterations 0..N-1 (a generator:
//                          G-step N-1; a discriminator: D-step (N-1, k-1)); the scheduler then
//                          writes them into checkpoints/iter-N.partial (checkpointer.ts).
//   push(role, snapshot, iteration)
//                          LoadWeights into the role (every rank of a discriminator replica group;
//                          pull reads rank 0's) after a `restore` that named checkpoint N
//                          armed it for that progress. The service reads and checks the whole
//                          stream before assigning anything: a rejected snapshot changes nothing,
//                          and the service keeps refusing commands until a good one arrives.
//
// A call that finds the peer gone (UNAVAILABLE, deadline) is a ServiceLost: the scheduler
// re-forms the generation, exactly as for a step command whose service died. Unless the
// scheduler itself did not run meanwhile (SIGSTOP, a suspended VM: `trustedSince` moved past the
// call's start, vantage.ts): its deadline then ran out on the scheduler's clock, not the peer's,
// and a pull (a read) is made again, up to MAX_STALLED_RETRIES times. A push is not: the service
// admits an armed snapshot once, so a repeat could be refused; recovery pushes afresh.
import type { GrpcTls } from '../wire/tls.ts';
import type { ModelSnapshot } from '../run/model-snapshot.ts';
import type { ServiceRole } from '../control/subjects.ts';
import type { Logger } from '../telemetry/log.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { DiscriminatorClient } from '../wire/discriminator-client.ts';
import { PeerError } from '../wire/errors.ts';
import { GeneratorClient } from '../wire/generator-client.ts';
import { ServiceLost } from './fleet.ts';

export interface SnapshotPeers {
  generatorAddr: string;
  /** The discriminator's ranks in rank order (one address without replicas). */
  discriminatorAddrs: readonly string[];
  /** Deadline of one whole weights stream, ms. */
  deadlineMs: number;
  metrics?: Metrics;
  tls?: GrpcTls;
  /** The role's current instance (its last heartbeat), named by the ServiceLost of a failed call. */
  instanceOf(role: ServiceRole): string | undefined;
  /** Local time (ms) since which the scheduler trusts its own view (Vantage.trustedSince). */
  trustedSince?(): number;
  log?: Logger;
}

const MAX_STALLED_RETRIES = 3;

/** A pulled snapshot does not hold the progress the checkpoint is for: the run must stop. */
export class SnapshotProgressError extends Error {
  override readonly name = 'SnapshotProgressError';
  constructor(
    readonly role: ServiceRole,
    readonly iteration: number,
    readonly expected: { iteration: number; step: number },
    readonly found: { iteration: number; step: number },
  ) {
    super(`checkpoint ${iteration}: the ${role}'s snapshot includes steps up to (${found.iteration}, ${found.step}), ` +
      `expected (${expected.iteration}, ${expected.step})`);
  }
}

export class ServiceSnapshots {
  private readonly generator: GeneratorClient;
  /** By rank; [0] is the one pulled at checkpoints. */
  private readonly discriminators: DiscriminatorClient[];

  constructor(private readonly peers: SnapshotPeers) {
    const opts = { weightsDeadlineMs: peers.deadlineMs, metrics: peers.metrics, tls: peers.tls };
    this.generator = new GeneratorClient(peers.generatorAddr, opts);
    this.discriminators = peers.discriminatorAddrs.map((a) => new DiscriminatorClient(a, opts));
  }

  /** The role's snapshot after iterations 0..iteration-1; `dSteps` is k (the discriminator's last step is k-1). */
  async pull(role: ServiceRole, iteration: number, dSteps: number): Promise<ModelSnapshot> {
    const expected = progressAt(role, iteration, dSteps);
    const got = await this.guard(role, true, async () => {
      if (role === 'generator') {
        const w = await this.generator.streamWeights();
        return { snapshot: w.snapshot, lastApplied: { iteration: w.lastAppliedIteration, step: -1 } };
      }
      return this.discriminators[0].streamWeights();
    });
    const found = got.lastApplied;
    // A generator's step is not tracked (-1); a discriminator at iteration 0 has applied nothing (-1, -1).
    if (found.iteration !== expected.iteration || (role === 'discriminator' && found.step !== expected.step)) {
      throw new SnapshotProgressError(role, iteration, expected, found);
    }
    return got.snapshot;
  }

  /** Streams checkpoint `iteration`'s snapshot of `role` into the service (armed by its `restore`). */
  async push(role: ServiceRole, snapshot: ModelSnapshot, iteration: number, dSteps: number): Promise<void> {
    const lastApplied = progressAt(role, iteration, dSteps);
    await this.guard(role, false, async () => {
      if (role === 'generator') await this.generator.loadWeights({ snapshot, lastAppliedIteration: lastApplied.iteration });
      else await Promise.all(this.discriminators.map((d) => d.loadWeights({ snapshot, lastApplied })));
    });
  }

  close(): void {
    this.generator.close();
    for (const d of this.discriminators) d.close();
  }

  private async guard<T>(role: ServiceRole, repeatable: boolean, call: () => Promise<T>): Promise<T> {
    for (let retries = 0; ; retries++) {
      const began = Date.now();
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof PeerError && err.retryable)) throw err;
        const stalled = (this.peers.trustedSince?.() ?? 0) > began;
        if (repeatable && stalled && retries < MAX_STALLED_RETRIES) {
          this.peers.log?.warn(`the scheduler did not run during a call to the ${role}; calling again`, { role, error: err.message, retry: retries + 1 });
          continue;
        }
        throw new ServiceLost(role, this.peers.instanceOf(role), `the ${role} did not answer over gRPC (${err.message})`, { cause: err });
      }
    }
  }
}

/** The (iteration, step) a role has applied once iterations 0..iteration-1 are done. */
export function progressAt(role: ServiceRole, iteration: number, dSteps: number): { iteration: number; step: number } {
  if (role === 'generator') return { iteration: iteration - 1, step: -1 };
  return iteration === 0 ? { iteration: -1, step: -1 } : { iteration: iteration - 1, step: dSteps - 1 };
}
