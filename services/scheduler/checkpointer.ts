// Checkpoints, restores and sample grids of a distributed run (protocol steps c and d in
// scheduler.ts). The scheduler is the only writer of the run directory: the services hold their
// models in memory and move them over gRPC (snapshots.ts), never through a shared filesystem.
//
// Checkpoint N:
//   1. prepareStagingDir: checkpoints/iter-N.partial/, empty (a stale one is removed);
//   2. `checkpoint` {iteration} to both services at once: each checks it has applied exactly
//      iterations 0..N-1 (and holds still: the scheduler sends no step meanwhile); every rank of a
//      discriminator replica group answers the hash of its weights and Adam state, and ranks that
//      differ stop the run (ReplicaDivergence): the checkpoint would hold rank 0's alone;
//   3. StreamWeights from both; each snapshot's progress is checked again from its header, then
//      its two safetensors files are written into the staging directory;
//   4. commitCheckpoint: re-hash, write manifest.json last, rename to iter-N;
//   5. record {iteration, path} in KV (compare-and-set), append to metrics.jsonl, prune.
// A crash anywhere before 4 leaves only the .partial directory, which no loader accepts; a crash
// between 4 and 5 leaves a complete directory that KV does not name yet, which the next pass
// over iteration N finds (verified) and records instead of writing it again.
//
// Restore into a generation from checkpoint N: `restore` {checkpoint} to both (each builds a fresh
// node and arms LoadWeights for N's progress); the scheduler reads the checkpoint (hashes
// verified, .partial refused) and streams each model's snapshot in with LoadWeights. A service
// answers no other command until its snapshot is loaded.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { CheckpointRef } from '../control/messages.ts';
import { commitCheckpoint, prepareStagingDir, readCheckpoint, verifyCheckpoint, writeModelFiles } from '../run/checkpoint.ts';
import { pruneCheckpoints } from '../run/checkpoint-list.ts';
import { finalDirFor } from '../run/checkpoint-paths.ts';
import { CheckpointError } from '../run/errors.ts';
import { writeFileAtomic } from '../run/atomic-file.ts';
import { samplePath } from '../run/run-dir.ts';
import { SERVICE_ROLES } from '../control/subjects.ts';
import type { Logger } from '../telemetry/log.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { GanTrainConfig } from '../train/config.ts';
import type { Fleet, MemberReply, ServiceBackends } from './fleet.ts';
import type { RunLedger } from './ledger.ts';
import type { RunRecords } from './run-records.ts';
import type { ServiceSnapshots } from './snapshots.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export class Checkpointer {
  constructor(
    private readonly fleet: Fleet,
    private readonly snapshots: ServiceSnapshots,
    private readonly ledger: RunLedger,
    private readonly records: RunRecords,
    private readonly train: GanTrainConfig,
    private readonly runDir: string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  async checkpoint(iteration: number): Promise<void> {
    const t0 = performance.now();
    const end = this.metrics.stepDuration.startTimer({ phase: 'checkpoint' });
    const root = this.records.run.checkpoints;
    const finalDir = finalDirFor(root, iteration);
    if (!(await isComplete(finalDir))) {
      const staging = await prepareStagingDir(root, iteration);
      // Both answers are awaited before a failure is acted on: a service still answering must not
      // be left with a command whose later timeout would be logged against it.
      const settled = await Promise.allSettled(SERVICE_ROLES.map((role) => this.fleet.callGroup(role, 'checkpoint', { iteration })));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const dReplies = (settled[SERVICE_ROLES.indexOf('discriminator')] as PromiseFulfilledResult<MemberReply<'checkpoint'>[]>).value;
      if (dReplies.length > 1) this.records.weightsRecord(iteration, 'discriminator', dReplies.map((r) => ({ rank: r.rank, weightsHash: r.reply.weightsHash })));
      checkReplicasAgree(iteration, dReplies);
      const models = await Promise.all(SERVICE_ROLES.map(async (role) =>
        writeModelFiles(staging, await this.snapshots.pull(role, iteration, this.train.dSteps))));
      await commitCheckpoint(staging, {
        kind: 'gan', iteration, config: this.train, models, extra: { backend: this.train.backend, distributed: true },
      });
    } else {
      this.log.info('checkpoint already complete on disk; recording it', { path: finalDir });
    }
    await this.ledger.patch({ lastCheckpoint: { iteration, path: path.relative(this.runDir, finalDir) } });
    const seconds = (performance.now() - t0) / 1000;
    end();
    this.metrics.checkpointDuration.observe(seconds);
    this.records.checkpointRecord(iteration, finalDir, seconds);
    const pruned = await pruneCheckpoints(root, this.train.keepCheckpoints);
    this.log.info('checkpoint', { iteration, path: finalDir, seconds: Number(seconds.toFixed(3)), pruned: pruned.removed.length });
  }

  /**
   * Restores both services into the current generation from `checkpoint` (null: the seeded
   * initial weights); returns the backend each reported computing on.
   */
  async restore(configHash: string, checkpoint: CheckpointRef | null): Promise<ServiceBackends> {
    const backends = await this.fleet.restoreAll(this.train, configHash, checkpoint);
    if (!checkpoint) return backends;
    const ckpt = await readCheckpoint(path.join(this.runDir, checkpoint.path)); // refuses .partial and hash mismatches
    await Promise.all(SERVICE_ROLES.map((role) => {
      const snapshot = ckpt.models.get(role);
      if (!snapshot) throw new CheckpointError(ckpt.dir, `${ckpt.dir}: the manifest lists no ${role}`);
      return this.snapshots.push(role, snapshot, checkpoint.iteration, this.train.dSteps);
    }));
    this.log.info('weights loaded into the services', { from: checkpoint.path, iteration: checkpoint.iteration });
    return backends;
  }

  /** The generator draws the fixed-z grid for `iteration`; the scheduler writes samples/iter-N.png. */
  async sample(iteration: number): Promise<void> {
    const file = samplePath(this.records.run, iteration);
    const reply = await this.fleet.call('generator', 'sample', { iteration });
    const png = Buffer.from(reply.pngBase64, 'base64');
    if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new CheckpointError(file, `sample ${iteration}: the generator's answer is not a PNG file`);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, png);
    this.records.sampleRecord(iteration, file);
  }
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    await verifyCheckpoint(dir);
    return true;
  } catch {
    return false;
  }
}

/** The ranks of a discriminator replica group hold different weights: the run must stop. */
export class ReplicaDivergence extends Error {
  override readonly name = 'ReplicaDivergence';
  constructor(
    readonly iteration: number,
    readonly role: 'discriminator',
    /** weightsHash by rank. */
    readonly hashes: readonly string[],
  ) {
    super(`checkpoint ${iteration}: the ${role} replicas hold different weights (sha256 by rank: ${hashes.map((h, r) => `${r}=${h.slice(0, 12)}`).join(', ')}); ` +
      'every rank must apply the same update, so the group has diverged and the run stops');
  }
}

/** Every rank answered the same weights hash (a single discriminator passes trivially). */
export function checkReplicasAgree(iteration: number, replies: readonly MemberReply<'checkpoint'>[]): void {
  if (replies.length < 2) return;
  const hashes = replies.map((r) => r.reply.weightsHash ?? 'none');
  if (hashes.some((h) => h !== hashes[0]) || hashes[0] === 'none') throw new ReplicaDivergence(iteration, 'discriminator', hashes);
}
