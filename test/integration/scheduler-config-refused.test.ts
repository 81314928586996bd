// A scheduler started for a run whose state in KV was made with another training configuration
// refuses it as a configuration error: exit 2 (a restart would be refused again, so neither the
// launcher nor a restart policy retries it), naming both config hashes; the entry is left as it was.
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
