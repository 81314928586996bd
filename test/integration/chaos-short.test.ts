// The short fault schedule (issue 19, part 4) in the suite: the two cheapest kinds (kill -9 of
// the discriminator and of nats-server) through the same code as `npm run chaos`: each trial
// must heal without help, end with exactly the fault-free run's weights (tolerance 0, optimizer
// state included), and blame exactly the process that was faulted.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { after, before, it } from 'node:test';
import { runChaos } from '../../bench/chaos.ts';
import { tempDir } from '../harness/nats.ts';

let root: string;

before(async () => { root = await tempDir('gantry-chaos-short-'); });
after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

it('kill -9 of the discriminator and of nats-server: healed, identical, blamed correctly', async () => {
  const lines: string[] = [];
  const report = await runChaos({ trials: 2, seed: 3, kinds: ['kill-discriminator', 'kill-nats'], out: root, log: (l) => lines.push(l) });
  assert.equal(report.results.length, 2, lines.join('\n'));
  assert.deepEqual(new Set(report.results.map((r) => r.kind)), new Set(['kill-discriminator', 'kill-nats']));
  for (const r of report.results) {
    assert.equal(r.finishedWithoutHelp, true, `${r.kind}: ${r.note ?? ''}`);
    assert.equal(r.identical, true, `${r.kind}: ${r.note ?? ''}`);
    assert.equal(r.blameCorrect, true, `${r.kind}: faulted ${r.faulted.join('+')}, blamed ${r.blamed.join('+')}`);
    assert.ok(r.detectMs !== null && r.recoverMs !== null, `${r.kind}: detection and recovery were measured`);
  }
  assert.equal(report.byKind['kill-nats'].identical, 1);
});
