// Checkpoints and sample grids of a distributed run (protocol step d in scheduler.ts):
//   1. prepareStagingDir: checkpoints/iter-N.partial/, empty (a stale one is removed);
//   2. `checkpoint` {iteration, stagingDir} to both services at once; each writes its two
//      safetensors files there and answers its manifest entry;
//   3. commitCheckpoint: re-hash, write manifest.json last, rename to iter-N;
//   4. record {iteration, path} in KV (compare-and-set), append to metrics.jsonl, prune.
// A crash anywhere before 3 leaves only the .partial directory, which no loader accepts; a crash
// between 3 and 4 leaves a complete directory that KV does not name yet, which the next pass
// over iteration N finds (verified) and records instead of writing it again.
import path from 'node:path';
import type { ManifestModelEntry } from '../run/manifest.ts';
import { commitCheckpoint, prepareStagingDir, verifyCheckpoint } from '../run/checkpoint.ts';
import { pruneCheckpoints } from '../run/checkpoint-list.ts';
import { finalDirFor } from '../run/checkpoint-paths.ts';
import { samplePath } from '../run/run-dir.ts';
import { SERVICE_ROLES } from '../control/subjects.ts';
import type { Logger } from '../telemetry/log.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { GanTrainConfig } from '../train/config.ts';
import type { OkReply } from '../control/messages.ts';
import type { Fleet } from './fleet.ts';
import type { RunLedger } from './ledger.ts';
import type { RunRecords } from './run-records.ts';

export class Checkpointer {
  constructor(
    private readonly fleet: Fleet,
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
      const stagingDir = path.relative(this.runDir, staging);
      // Both answers are awaited before a failure is acted on: a service still writing must not
      // be left with a command whose later timeout would be logged against it.
      const settled = await Promise.allSettled(SERVICE_ROLES.map((role) => this.fleet.call(role, 'checkpoint', { iteration, stagingDir })));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const replies = settled.map((r) => (r as PromiseFulfilledResult<OkReply<'checkpoint'>>).value);
      await commitCheckpoint(staging, {
        kind: 'gan', iteration, config: this.train,
        models: replies.map((r) => r.entry as ManifestModelEntry), extra: { backend: this.train.backend, distributed: true },
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

  /** The generator writes the fixed-z grid for `iteration` into samples/. */
  async sample(iteration: number): Promise<void> {
    const file = samplePath(this.records.run, iteration);
    await this.fleet.call('generator', 'sample', { iteration, path: path.relative(this.runDir, file) });
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
