// The project's central correctness check: a distributed run (nats-server, generator,
// discriminator and scheduler as separate processes, tensors over gRPC) and the in-process
// trainer, with the same seed and config, end with the same G and D weights, as judged by
// `gantry checkpoint diff --tolerance 1e-5`. For the non-saturating loss, LSGAN, and k = 2
// D-steps per iteration.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { runLocalCluster } from '../../services/launcher/local-cluster.ts';
import type { GanTrainConfig } from '../../services/train/config.ts';
import { echoOnFailure, GANTRY_BIN, LineSink, quietLog, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.ts';

const run = promisify(execFile);
let nats: TestNats;
let root: string;

before(async () => {
  nats = await startTestNats();
  root = await tempDir('gantry-distributed-equivalence-');
});
after(async () => {
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

const CASES: { name: string; overrides: Partial<GanTrainConfig> }[] = [
  { name: 'nonsaturating', overrides: { loss: 'nonsaturating' } },
  { name: 'lsgan', overrides: { loss: 'lsgan' } },
  { name: 'k2', overrides: { loss: 'nonsaturating', dSteps: 2 } },
];

// The in-process references share this process's tfjs engine: one at a time.
let referenceQueue: Promise<unknown> = Promise.resolve();
function referenceRun(cfg: GanTrainConfig, out: string): Promise<string> {
  const next = referenceQueue.then(() => trainReference(cfg, out));
  referenceQueue = next.catch(() => undefined);
  return next;
}

// The three clusters run at once: each spends most of its time starting processes.
describe('distributed equivalence', { concurrency: CASES.length }, () => {
  for (const c of CASES) {
    it(`distributed = in-process after 20 iterations (${c.name})`, async () => {
      const cfg = tinyGanConfig({ out: path.join(root, `dist-${c.name}`), iterations: 20, checkpointEvery: 10, sampleEvery: 10, ...c.overrides });
      const output = new LineSink();
      const summary = await echoOnFailure(output, runLocalCluster(cfg, { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false }));
      assert.equal(summary.status, 'completed', output.lines.slice(-20).join('\n'));
      assert.equal(summary.iterations, 20);
      const reference = await referenceRun(cfg, path.join(root, `ref-${c.name}`));

      const diff = await run(process.execPath, [GANTRY_BIN, 'checkpoint', 'diff', '--tolerance', '1e-5', '--json', reference, summary.runDir]);
      const report = JSON.parse(diff.stdout) as { status: string; iterations: { a: number; b: number }; tensors: unknown[]; maxRelDiff: number };
      assert.equal(report.status, 'equal');
      assert.deepEqual(report.iterations, { a: 20, b: 20 });
      assert.equal(report.tensors.length, 12, 'every tensor of G and D compared');
      const samples = await Promise.all([reference, summary.runDir].map((d) => fsp.readFile(path.join(d, 'samples/iter-000020.png'))));
      assert.ok(samples[0].equals(samples[1]), 'the sample grids are identical too');
    });
  }
});
