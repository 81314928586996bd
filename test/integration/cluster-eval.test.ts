// Periodic evaluation and the run report of a distributed run: the scheduler has the generator
// score G every evalEvery iterations with a tiny classifier, and the scores in metrics.jsonl are
// the in-process trainer's, number for number; the gauge gantry_eval_score carries them on the
// scheduler's /metrics; run.json names the backend the services computed on; report.html holds
// the evaluation curve. Without a usable classifier the run goes on, with one warning.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { initBackend } from '../../services/core/backend/select.ts';
import { closeNats, connectNats } from '../../services/control/connection.ts';
import { encodeMessage } from '../../services/control/messages.ts';
import { runSubjects } from '../../services/control/subjects.ts';
import { type ClusterEvent, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { freePorts } from '../../services/launcher/ports.ts';
import { readMetrics } from '../../services/run/metrics-log.ts';
import { readRunInfo, runDirPaths } from '../../services/run/run-dir.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig, trainReference } from '../harness/cluster.ts';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.ts';
import { writeClassifierRun, writeTestSplit } from '../unit/eval-fixtures.ts';

let nats: TestNats;
let nc: NatsConnection;
let root: string;
let classifier: string;

before(async () => {
  nats = await startTestNats();
  nc = await connectNats(nats.url, { name: 'test', log: quietLog });
  root = await tempDir('gantry-cluster-eval-');
  await initBackend('wasm', quietLog); // the fixture builds its classifier here
  const data = await writeTestSplit(path.join(root, 'data'), 40);
  // A width-4 'quick' classifier checkpoint (random weights: the scores are numbers to compare, not good ones).
  classifier = (await writeClassifierRun(path.join(root, 'runs'), 'classifier', { startedAt: '2026-01-01T00:00:00.000Z', dataDir: data })).runDir;
});
after(async () => {
  await closeNats(nc);
  await nats?.stop();
  await fsp.rm(root, { recursive: true, force: true });
});

const withoutTs = (r: Record<string, unknown>): Record<string, unknown> => {
  const { ts: _ts, ...rest } = r;
  return rest;
};

/** The metrics page of `port`, read once the scheduler pauses after `iteration`; then resumes. */
function scrapeWhilePaused(runId: string, port: number, iteration: number): { onEvent: (e: ClusterEvent) => void; page: Promise<string> } {
  const subjects = runSubjects(runId);
  let asked = false;
  let settle!: (page: Promise<string>) => void;
  const page = new Promise<string>((resolve) => { settle = (p) => resolve(p); });
  const onEvent = (e: ClusterEvent): void => {
    if (e.type !== 'progress') return;
    if (!asked && e.status === 'running' && e.iteration >= iteration) {
      asked = true;
      nc.publish(subjects.control, encodeMessage({ type: 'pause', run: runId, reason: 'test: scrape /metrics' }));
    }
    if (e.status === 'paused') {
      settle(fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).finally(() => {
        nc.publish(subjects.control, encodeMessage({ type: 'resume', run: runId }));
      }));
    }
  };
  return { onEvent, page };
}

describe('distributed evaluation and report', { concurrency: 2 }, () => {
  it('scores like the in-process trainer, exports the gauge, writes run.json backend and report.html', async () => {
    const cfg = tinyGanConfig({ out: path.join(root, 'dist'), iterations: 10, checkpointEvery: 10, evalEvery: 5, evalSamples: 100, classifier });
    const runId = 'cluster-eval';
    const [metricsPort] = await freePorts(1);
    const scrape = scrapeWhilePaused(runId, metricsPort, 5);
    const output = new LineSink();
    const summary = await echoOnFailure(output, runLocalCluster(cfg, {
      natsUrl: nats.url, runId, log: quietLog, output, progress: false, handleSignals: false, onEvent: scrape.onEvent,
      env: { scheduler: { GANTRY_METRICS_PORT: String(metricsPort) } },
    }));
    assert.equal(summary.status, 'completed', output.lines.slice(-20).join('\n'));
    const reference = await trainReference(cfg, path.join(root, 'ref'));

    const evals = async (dir: string) => (await readMetrics(path.join(dir, 'metrics.jsonl'))).filter((r) => r.kind === 'eval').map(withoutTs);
    const [dist, ref] = await Promise.all([evals(summary.runDir), evals(reference)]);
    assert.deepEqual(dist.map((r) => r.iteration), [5, 10]);
    assert.equal(dist[0].samples, 100);
    assert.equal(typeof dist[0].mnistScore, 'number');
    assert.deepEqual(dist, ref, 'the same scores as the in-process trainer');

    const page = await scrape.page;
    const gauge = page.split('\n').find((l) => l.startsWith('gantry_eval_score{') && l.includes('metric="mnist_score"'));
    assert.ok(gauge, `gantry_eval_score{metric="mnist_score"} on the scheduler's /metrics:\n${page.slice(0, 400)}`);
    assert.equal(Number(gauge.slice(gauge.lastIndexOf(' ') + 1)), dist[0].mnistScore);

    const [info, refInfo] = await Promise.all([summary.runDir, reference].map((d) => readRunInfo(runDirPaths(d, 'gan'))));
    assert.equal(info.status, 'completed');
    assert.equal(info.backend.name, 'wasm');
    assert.equal(info.backend.device, refInfo.backend.device, 'the device the services reported');

    const html = await fsp.readFile(path.join(summary.runDir, 'report.html'), 'utf8');
    const json = html.match(/<script type="application\/json" id="gantry-report-data">([\s\S]*?)<\/script>/);
    assert.ok(json, 'the report embeds its chart data');
    const charts = (JSON.parse(json[1]) as { charts: { id: string; series: { points: [number, number][] }[] }[] }).charts;
    const score = charts.find((c) => c.id === 'mnist-score');
    assert.deepEqual(score?.series[0].points, dist.map((r) => [r.iteration, r.mnistScore]), 'the evaluation curve');
  });

  it('without a usable classifier: one warning, no eval records, the run completes with its report', async () => {
    const cfg = tinyGanConfig({ out: path.join(root, 'no-classifier'), iterations: 6, evalEvery: 2, evalSamples: 100, classifier: path.join(root, 'missing') });
    const output = new LineSink();
    const summary = await echoOnFailure(output, runLocalCluster(cfg, { natsUrl: nats.url, log: quietLog, output, progress: false, handleSignals: false }));
    assert.equal(summary.status, 'completed', output.lines.slice(-20).join('\n'));
    const records = await readMetrics(path.join(summary.runDir, 'metrics.jsonl'));
    assert.equal(records.filter((r) => r.kind === 'eval').length, 0);
    assert.equal(records.filter((r) => r.kind === 'train').length, 6, 'training went on');
    assert.equal(output.count(/^\[scheduler\] .*periodic evaluation is off/), 1, output.lines.filter((l) => /evaluation/.test(l)).join('\n'));
    assert.equal(output.count(/^\[generator\] .*periodic evaluation disabled/), 1);
    await fsp.access(path.join(summary.runDir, 'report.html'));
  });
});
