// No temporary files are left behind by any exit path of the launcher that can run code (issue 19,
// part 3): SIGTERM (a stop after a checkpoint) and an uncaught error (the exit hook kills the
// children and removes the files synchronously). The launcher's files live in RUN_DIR/.cluster;
// nothing is created in the system temporary directory, and no process outlives the launcher.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tinyGanConfig } from '../harness/cluster.ts';
import { isAlive, tempDir, waitFor } from '../harness/nats.ts';

const CLUSTER_MAIN = fileURLToPath(new URL('../harness/cluster-main.ts', import.meta.url));
let root: string;

before(async () => { root = await tempDir('gantry-exit-paths-'); });
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

/** The launcher's former mkdtemp directories (gantry-cluster-XXXXXX) in the system temporary directory. */
function clusterTemps(): Set<string> {
  return new Set(readdirSync(os.tmpdir()).filter((n) => /^gantry-cluster-[A-Za-z0-9]{6}$/.test(n)));
}

interface Launched { exited: Promise<number | null>; pids: number[]; iteration: () => number; clusterSeen: () => boolean; kill: (s: NodeJS.Signals) => void }

async function launch(name: string, env: Record<string, string> = {}): Promise<Launched> {
  const runDir = path.join(root, name);
  const configFile = path.join(root, `${name}.json`);
  await fsp.writeFile(configFile, JSON.stringify(tinyGanConfig({ out: runDir, iterations: 100_000, checkpointEvery: 1_000, sampleEvery: 1_000 })));
  const child = spawn(process.execPath, ['--import', 'tsx', CLUSTER_MAIN, configFile], {
    env: { ...process.env, ...env, GANTRY_LOG_FORMAT: 'json', GANTRY_TEST_CLUSTER_ENV: JSON.stringify({ scheduler: { GANTRY_LIVENESS_MS: '2000' } }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pids: number[] = [];
  let iteration = 0;
  let clusterSeen = false;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as { event?: { type: string; pid?: number; iteration?: number } };
    if ((msg.event?.type === 'spawn' || msg.event?.type === 'nats') && msg.event.pid !== undefined) pids.push(msg.event.pid);
    if (msg.event?.type === 'progress') iteration = msg.event.iteration ?? 0;
    clusterSeen ||= existsSync(path.join(runDir, '.cluster', 'nats'));
  });
  return { exited, pids, iteration: () => iteration, clusterSeen: () => clusterSeen, kill: (s) => child.kill(s) };
}

it('SIGTERM: the run stops, RUN_DIR/.cluster is removed, nothing in the temporary directory, no process left', async () => {
  const before = clusterTemps();
  const l = await launch('sigterm');
  await waitFor(() => l.iteration() >= 3, 'the run to pass iteration 3', 30_000);
  assert.ok(l.clusterSeen(), "nats-server's store was in RUN_DIR/.cluster while running");
  l.kill('SIGTERM');
  assert.equal(await l.exited, 0);
  assert.equal(existsSync(path.join(root, 'sigterm', '.cluster')), false);
  assert.deepEqual([...clusterTemps()].filter((n) => !before.has(n)), []);
  assert.deepEqual(l.pids.filter(isAlive), []);
});

it('an uncaught error: the exit hook kills every child and removes RUN_DIR/.cluster', async () => {
  const l = await launch('uncaught', { GANTRY_TEST_THROW_AT_ITERATION: '3' });
  const code = await l.exited;
  assert.ok(l.iteration() > 0, 'the run was training when the error came');
  assert.notEqual(code, 0);
  assert.equal(existsSync(path.join(root, 'uncaught', '.cluster')), false);
  await waitFor(() => l.pids.filter(isAlive).length === 0, 'every child to be gone', 5_000);
});
