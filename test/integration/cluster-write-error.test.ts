// A write error names the file and the cause once, and the previous checkpoint stays valid
// (issue 19, part 3). The run's checkpoints/ is a small tmpfs (root only: skipped with a note
// when the mount is refused); once the first checkpoint is written the test fills it, and the
// next checkpoint fails with ENOSPC. The run must end with one clear error, no doubled "run
// failed" prefix and no false "timed out" warning, with the last complete checkpoint intact.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { ClusterFailed, type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { latestCheckpoint } from '../../services/run/checkpoint-list.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';
import { fillDisk } from '../harness/disk.ts';

let root: string;
let mounted: string | undefined;
let skip: string | false = false;

before(async () => {
  root = await tempDir('gantry-write-error-');
  const checkpoints = path.join(root, 'run', 'checkpoints');
  await fsp.mkdir(checkpoints, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', checkpoints], { stdio: 'pipe' });
    mounted = checkpoints;
  } catch (err) {
    skip = `cannot mount a tmpfs (needs root): ${(err as Error).message.split('\n')[0]}`;
  }
});
after(async () => {
  if (mounted) execFileSync('umount', ['-l', mounted]);
  await fsp.rm(root, { recursive: true, force: true });
});

/** Writes zeros into `dir` until the file system is full. */
it('ENOSPC while checkpointing: one error naming the file and the cause, the previous checkpoint intact', async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const runDir = path.join(root, 'run');
  const cfg = tinyGanConfig({ out: runDir, iterations: 40, checkpointEvery: 5 });
  const output = new LineSink();
  let filled = false;
  const onEvent = (e: ClusterEvent): void => {
    if (filled || e.type !== 'progress' || e.iteration < 6) return;
    if (!existsSync(path.join(mounted!, 'iter-000005', 'manifest.json'))) return;
    filled = true;
    fillDisk(mounted!);
  };
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const cluster = runLocalCluster(cfg, {
    log: quietLog, output, progress: false, handleSignals: false, onEvent,
    env: { generator: common, discriminator: common, scheduler: { ...common, GANTRY_COMMAND_TIMEOUT_MS: '5000', GANTRY_LIVENESS_MS: '2000' } },
  });
  const err = await echoOnFailure(output, cluster.then(() => undefined, (e: unknown) => e));
  assert.ok(filled, 'the disk was filled mid-run');
  assert.ok(err instanceof ClusterFailed, `the run failed: ${String(err)}`);
  assert.match(err.message, /cannot write \/\S+\/checkpoints\/iter-\d{6}\.partial\/\S+: ENOSPC \(no space left on device\)/);
  assert.equal(err.message.match(/ENOSPC/g)?.length, 1, `the cause once: ${err.message}`);
  assert.doesNotMatch(err.message, /run failed: run failed|failed: .*failed:/);
  assert.match(err.message, /the last good checkpoint \(checkpoints\/iter-\d{6}\) is kept/);
  assert.equal(err.details?.code, 'write-failed');
  assert.match(err.details?.file ?? '', /\.safetensors$/);
  assert.equal(output.find(/timed out/), undefined, 'no false timeout warning');
  assert.equal(output.find(/is dead/), undefined, 'nobody blamed for a full disk');

  const good = await latestCheckpoint(mounted!);
  assert.ok(good && good.iteration >= 5, 'a complete checkpoint before the failure still verifies');
});
