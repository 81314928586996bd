// A scheduler started for a run whose state in KV was made with another training configuration
// refuses it as a configuration error: exit 2 (a restart would be refused again, so neither the
// launcher nor a restart policy retries it), naming both config hashes; the entry is left as it was.
// A scheduler for a run KV says completed reports it and exits 0 (a restart after the end does
// nothing); with resume in its configuration it claims the run again, so the same hash check guards
// that (the reopen itself: test/e2e/classifier-workers.test.ts, test/e2e/discriminator-replicas.test.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { RunStateStore } from '../../services/control/run-state.ts';
import { GANTRY_BIN } from '../harness/cluster.ts';
import { tempDir, useTestNats } from '../harness/nats.ts';

const t = useTestNats();
const run = promisify(execFile);

for (const kind of ['gan', 'classifier'] as const) {
  test(`${kind}: a run in KV with another config hash is refused with exit 2 and left unchanged`, async () => {
    const runId = `refused-${kind}`;
    const dir = await tempDir(`gantry-refused-${kind}-`);
    try {
      const store = await RunStateStore.open(t.nc);
      const foreign = 'f'.repeat(64);
      await store.create({
        runId, status: 'running', iteration: 3, iterations: 10, lastCheckpoint: null, generation: 1, configHash: foreign,
        scheduler: { instance: 'gone-1', pid: 1, host: 'elsewhere' },
      });
      const config = path.join(dir, 'train.json');
      await fsp.writeFile(config, JSON.stringify(kind === 'gan' ? { preset: 'mlp', iterations: 10 } : { preset: 'quick', maxSteps: 10, workers: 1 }));
      const r = await run(process.execPath, [GANTRY_BIN, 'serve', 'scheduler', '--kind', kind, '--run-dir', path.join(dir, 'run'), '--train-config', config], {
        env: { ...process.env, GANTRY_NATS_URL: t.nats.url, GANTRY_RUN_ID: runId, GANTRY_METRICS_PORT: '0', GANTRY_PROGRESS: 'false' },
      }).then(() => undefined, (e: { code: number; stderr: string }) => e);
      assert.ok(r, 'the scheduler failed');
      assert.equal(r.code, 2, r.stderr.slice(-2000));
      assert.match(r.stderr, new RegExp(`run ${runId}: its state in KV was made with another configuration \\(hash ffffffffffff, this one [0-9a-f]{12}\\)`));
      const after = (await store.get(runId))!.state;
      assert.equal(after.configHash, foreign);
      assert.equal(after.scheduler?.instance, 'gone-1', 'not taken over');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
}

for (const kind of ['gan', 'classifier'] as const) {
  test(`${kind}: a run KV says completed is reported and left alone; --resume reopens only a run of the same configuration`, async () => {
    const runId = `finished-${kind}`;
    const dir = await tempDir(`gantry-finished-${kind}-`);
    try {
      const store = await RunStateStore.open(t.nc);
      const foreign = 'e'.repeat(64);
      await store.create({
        runId, status: 'completed', iteration: 10, iterations: 10, lastCheckpoint: null, generation: 1, configHash: foreign,
        scheduler: { instance: 'done-1', pid: 1, host: 'elsewhere' },
      });
      const revision = (await store.get(runId))!.revision;
      const serve = async (resume: boolean) => {
        const config = path.join(dir, `train-${resume}.json`);
        const train = kind === 'gan' ? { preset: 'mlp', iterations: 20, resume } : { preset: 'quick', maxSteps: 20, workers: 1, resume };
        await fsp.writeFile(config, JSON.stringify(train));
        return run(process.execPath, [GANTRY_BIN, 'serve', 'scheduler', '--kind', kind, '--run-dir', path.join(dir, 'run'), '--train-config', config], {
          env: { ...process.env, GANTRY_NATS_URL: t.nats.url, GANTRY_RUN_ID: runId, GANTRY_METRICS_PORT: '0', GANTRY_PROGRESS: 'false' },
        }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
      };
      // A scheduler restarted after the end (no resume): reports the run, exits 0, trains nothing.
      const again = await serve(false);
      assert.equal(again.code, 0, again.stderr.slice(-2000));
      assert.match(again.stderr, /"msg":"run already finished".*"status":"completed"/);
      assert.equal((await store.get(runId))!.revision, revision, 'the entry is untouched');
      // --resume claims a finished run again, but only with the configuration it was made with.
      const reopen = await serve(true);
      assert.equal(reopen.code, 2, reopen.stderr.slice(-2000));
      assert.match(reopen.stderr, /its state in KV was made with another configuration \(hash eeeeeeeeeeee/);
      const after = await store.get(runId);
      assert.equal(after!.revision, revision, 'not taken over');
      assert.equal(after!.state.status, 'completed');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
}
