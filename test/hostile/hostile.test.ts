// The hostile-input suite (issue 19, part 5): generated, seeded cases against every gRPC method,
// every NATS subject the services and the scheduler subscribe to, the config loader and CLI, and
// checkpoint and data files, each run against the real thing. Each case must get a clear error,
// and no process may crash or change state (tally.ts). Prints one JSON object with the totals.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runInProcessGrpc } from './grpc-inprocess.ts';
import { runControlPlane } from './nats-surface.ts';
import { runCollective, runWorker } from './collective-cases.ts';
import { runRingChunks } from './ring-chunk-cases.ts';
import { runWorkerControl } from './worker-nats-cases.ts';
import { cliCases, configCases } from './config-cases.ts';
import { checkpointCases, dataCases, treeHash } from './file-cases.ts';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tally } from './tally.ts';

/** The cases' seed: the same cases, in the same order, on every run. */
const SEED = 19;
const tally = new Tally();

test('gRPC: generator and discriminator services, health and reflection, in this process', async () => {
  await runInProcessGrpc(tally, SEED);
});

test('gRPC: the collective ring of data-parallel replicas, in this process', async () => {
  await runCollective(tally, SEED);
});

test('gRPC: hostile chunks from an accepted left neighbour of a ring, in this process', async () => {
  await runRingChunks(tally, SEED);
});

test('gRPC: a data-parallel worker replica (WorkerService), in this process', async () => {
  await runWorker(tally, SEED);
});

test('NATS: commands to service processes, gRPC to them, control messages and heartbeats to a paused scheduler', async () => {
  const end = await runControlPlane(tally, SEED);
  // The scheduler was still paused where it was: the real stop found it there.
  assert.equal(end.status, 'stopped');
  assert.equal(end.stoppedAt, end.pausedAt);
});

test('NATS and KV: commands to a worker process, registrations to the classifier scheduler\'s roster', async () => {
  await runWorkerControl(tally, SEED);
});

test('config loader and CLI: unknown keys, wrong types, out-of-range values', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-hostile-config-'));
  try {
    // Pure parsers: nothing to change; files written by the cases are their own.
    await tally.runAll('config loader', { stateHash: async () => 'pure', health: async () => undefined }, configCases(dir));
    const cli = { stateHash: () => treeHash(dir), health: async () => undefined };
    await tally.runAll('cli (bin/gantry.js)', cli, await cliCases(dir));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('checkpoint and data files: truncated, bit-flipped, manifest-less, wrong sha, wrong headers, bad CRCs', async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-hostile-files-'));
  try {
    const ckpt = await checkpointCases(path.join(root, 'checkpoints'), SEED);
    await tally.runAll('checkpoint files (readCheckpoint)', ckpt.target, ckpt.cases, 20);
    const data = await dataCases(path.join(root, 'data'), SEED);
    await tally.runAll('data files (readIdx, readTFRecord, loadImageSet)', data.target, data.cases, 20);
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
});

after(() => {
  for (const v of tally.violations.slice(0, 60)) process.stderr.write(`hostile ${v.outcome}: ${v.surface}: ${v.name}: ${v.detail.slice(0, 300)}\n`);
  process.stdout.write(`${JSON.stringify(tally.summary())}\n`);
});

test('totals: >= 1000 distinct cases, 0 crashes, 0 state changes, every error clear', () => {
  const shown = tally.violations.slice(0, 40).map((v) => `${v.outcome}: ${v.surface}: ${v.name}: ${v.detail}`).join('\n');
  assert.equal(tally.violations.length, 0, `${tally.violations.length} violations:\n${shown}`);
  assert.equal(tally.crashes, 0);
  assert.equal(tally.stateChanges, 0);
  assert.ok(tally.names.size >= 1000, `${tally.names.size} distinct cases`);
});
