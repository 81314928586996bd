// A run whose every checkpoint is damaged refuses to resume (issue 19, part 3): the error lists
// each checkpoint and why, the CLI exits non-zero, in-process and distributed alike; with
// --restart-from-scratch it trains again from the initial weights and ends with exactly the
// weights of an undamaged run (optimizer state included).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { NoValidCheckpoint } from '../../services/run/checkpoint-list.ts';
import { diffCheckpoints } from '../../services/run/diff.ts';
import { trainGanInProcess } from '../../services/train/gan-trainer.ts';
import { echoOnFailure, GANTRY_BIN, LineSink, quietLog, tinyGanConfig } from '../harness/cluster.ts';
import { tempDir } from '../harness/nats.ts';

const ITERATIONS = 10;
const FINAL = 'checkpoints/iter-000010';
let root: string;
let intact: string;

before(async () => {
  root = await tempDir('gantry-resume-invalid-');
  const r = await trainGanInProcess(tinyGanConfig({ out: path.join(root, 'reference'), iterations: ITERATIONS, checkpointEvery: 5 }), quietLog);
  intact = path.join(r.runDir, FINAL);
});
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

/** A copy of the reference run with one byte flipped in every checkpoint's generator weights. */
async function damagedRun(name: string): Promise<{ runDir: string; damaged: string[] }> {
  const runDir = path.join(root, name);
  await fsp.cp(path.join(root, 'reference'), runDir, { recursive: true });
  const damaged: string[] = [];
  for (const d of (await fsp.readdir(path.join(runDir, 'checkpoints'))).filter((n) => n.startsWith('iter-'))) {
    const file = path.join(runDir, 'checkpoints', d, 'generator.safetensors');
    const bytes = await fsp.readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await fsp.writeFile(file, bytes);
    damaged.push(path.join(runDir, 'checkpoints', d));
  }
  assert.equal(damaged.length, 2);
  return { runDir, damaged };
}

function assertLists(message: string, damaged: string[]): void {
  for (const d of damaged) assert.match(message, new RegExp(`${d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: skipped: .*sha256`), `names ${d} and why`);
  assert.match(message, /--restart-from-scratch/);
}

it('in-process: refuses (each checkpoint listed, CLI exit non-zero); --restart-from-scratch retrains to the same weights', async () => {
  const { runDir, damaged } = await damagedRun('in-process');
  await assert.rejects(trainGanInProcess({ ...tinyGanConfig({ out: runDir, iterations: ITERATIONS, checkpointEvery: 5 }), resume: true }, quietLog), (err: unknown) => {
    assert.ok(err instanceof NoValidCheckpoint, String(err));
    assert.equal(err.skipped.length, 2);
    assertLists(err.message, damaged);
    return true;
  });
  const cli = spawnSync(process.execPath, [GANTRY_BIN, 'train', 'gan', '--in-process', '--resume', runDir], { encoding: 'utf8', env: { ...process.env, GANTRY_LOG_FORMAT: 'json' } });
  assert.notEqual(cli.status, 0);
  assertLists(cli.stderr, damaged);

  await trainGanInProcess({ ...tinyGanConfig({ out: runDir, iterations: ITERATIONS, checkpointEvery: 5 }), resume: true, restartFromScratch: true }, quietLog);
  const diff = await diffCheckpoints(intact, path.join(runDir, FINAL), { tolerance: 0 });
  assert.equal(diff.status, 'equal');
  assert.equal(diff.maxAbsDiff, 0);
});

it('distributed: the launcher refuses before starting anything; --restart-from-scratch retrains to the same weights', async () => {
  const { runDir, damaged } = await damagedRun('distributed');
  const cfg = { ...tinyGanConfig({ out: runDir, iterations: ITERATIONS, checkpointEvery: 5 }), resume: true };
  let spawned = 0;
  await assert.rejects(runLocalCluster(cfg, { log: quietLog, progress: false, handleSignals: false, onEvent: () => { spawned++; } }), (err: unknown) => {
    assert.ok(err instanceof NoValidCheckpoint, String(err));
    assertLists(err.message, damaged);
    return true;
  });
  assert.equal(spawned, 0, 'no process was started');
  const cli = spawnSync(process.execPath, [GANTRY_BIN, 'train', 'gan', '--resume', runDir], { encoding: 'utf8', env: { ...process.env, GANTRY_LOG_FORMAT: 'json' } });
  assert.notEqual(cli.status, 0);
  assertLists(cli.stderr, damaged);

  const output = new LineSink();
  const common = { GANTRY_HEARTBEAT_MS: '200', GANTRY_LOG_FORMAT: 'json' };
  const summary = await echoOnFailure(output, runLocalCluster({ ...cfg, restartFromScratch: true }, {
    log: quietLog, output, progress: false, handleSignals: false, env: { generator: common, discriminator: common, scheduler: common },
  }));
  assert.equal(summary.status, 'completed');
  const diff = await diffCheckpoints(intact, path.join(runDir, FINAL), { tolerance: 0 });
  assert.equal(diff.status, 'equal');
  assert.equal(diff.maxAbsDiff, 0);
});
