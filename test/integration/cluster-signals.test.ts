// Ctrl-C on the launcher: a separate launcher process (test/harness/cluster-main.ts) gets SIGINT
// mid-run; the scheduler stops after the current iteration with a checkpoint, the launcher
// reports the run as stopped, and neither a service, the scheduler nor nats-server outlives it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyCheckpoint } from '../../services/run/checkpoint.ts';
import { tinyGanConfig } from '../harness/cluster.ts';
import { isAlive, tempDir, waitFor } from '../harness/nats.ts';

const CLUSTER_MAIN = fileURLToPath(new URL('../harness/cluster-main.ts', import.meta.url));
let root: string;

before(async () => { root = await tempDir('gantry-cluster-signals-'); });
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

it('stops every child and nats-server on SIGINT, after a final checkpoint', async () => {
  const runDir = path.join(root, 'run');
  const configFile = path.join(root, 'config.json');
  await fsp.writeFile(configFile, JSON.stringify(tinyGanConfig({ out: runDir, iterations: 100_000, checkpointEvery: 1_000, sampleEvery: 1_000 })));
  const env = { ...process.env, GANTRY_LOG_FORMAT: 'json', GANTRY_TEST_CLUSTER_ENV: JSON.stringify({ scheduler: { GANTRY_LIVENESS_MS: '2000' } }) };
  const launcher = spawn(process.execPath, ['--import', 'tsx', CLUSTER_MAIN, configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  launcher.stderr.resume();
  const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
  const pids: number[] = [];
  const out: Record<string, unknown>[] = [];
  let iteration = 0;
  readline.createInterface({ input: launcher.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as { event?: { type: string; pid?: number; iteration?: number } };
    out.push(msg);
    if ((msg.event?.type === 'spawn' || msg.event?.type === 'nats') && msg.event.pid !== undefined) pids.push(msg.event.pid);
    if (msg.event?.type === 'progress') iteration = msg.event.iteration ?? 0;
  });

  await waitFor(() => iteration >= 5, 'the run to pass iteration 5', 30_000);
  launcher.kill('SIGINT');
  assert.equal(await exited, 0);

  const summary = out.find((m) => 'summary' in m)?.summary as { status: string; iterations: number; lastCheckpoint: string };
  assert.equal(summary.status, 'stopped');
  assert.ok(summary.iterations >= 5 && summary.iterations < 100_000);
  const manifest = await verifyCheckpoint(summary.lastCheckpoint);
  assert.equal(manifest.iteration, summary.iterations, 'a checkpoint at the iteration it stopped at');
  assert.equal(pids.length, 4, 'nats-server, generator, discriminator, scheduler');
  assert.deepEqual(pids.filter(isAlive), [], 'no process outlives the launcher');
});
