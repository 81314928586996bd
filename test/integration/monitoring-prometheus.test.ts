// Proof against a real Prometheus: a short distributed GAN run (generator, the discriminator as 2
// replicas (--discriminator-replicas 2: each rank its own target, labelled with its rank, with the
// collective metrics the workers have), scheduler; periodic evaluation on) started with the launcher's `prometheus` option (what
// `gantry train gan --prometheus` does), scraped every second. Then, through Prometheus' HTTP
// API: every target is up, every rule loaded and healthy, every expression of every dashboard
// panel (template variables substituted as Grafana does) and every recording and alerting rule
// (an alert through the parts of its expression that carry data) returns at least one series
// with a finite value; every template variable has values; the sample grid panel's image loads;
// `promtool check metrics` passes on the /metrics page of each process type.
// The worker files (WORKER_FILES: the workers dashboard and rules) are proven the same way against
// a second real Prometheus scraping a short classifier run with 2 data-parallel workers
// (LocalWorkers with the `prometheus` option, what `gantry train classifier --workers 2` runs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initBackend } from '../../services/core/backend/select.ts';
import { type ClusterEvent, type ClusterSummary, runLocalCluster } from '../../services/launcher/local-cluster.ts';
import { runLocalWorkers, type WorkersEvent, type WorkersSummary } from '../../services/launcher/local-workers.ts';
import { classifierTrainSchema } from '../../services/train/config.ts';
import { echoOnFailure, LineSink, quietLog, tinyGanConfig } from '../harness/cluster.ts';
import {
  isWorkerFile, type Dashboard, dataExpressions, labelValuesQuery, loadDashboards, loadRules, panelQueries, substitute, variableQuery,
} from '../harness/monitoring.ts';
import { startTestNats, tempDir, type TestNats, waitFor } from '../harness/nats.ts';
import { writeClassifierRun, writeTestSplit } from '../unit/eval-fixtures.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const RUN = 'monitoring-run';
const WORKER_RUN = 'monitoring-workers';
const ROLES = ['discriminator', 'generator', 'scheduler'];
/** One target per process: the two discriminator replicas are two. */
const TARGET_ROLES = ['discriminator', 'discriminator', 'generator', 'scheduler'];
/** Grafana's $__rate_interval for a 1 s scrape interval: max($__interval + 1s, 4 x 1s). */
const GRAFANA = { rateInterval: '4s', interval: '1s' };

interface QueryResult { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }

let nats: TestNats;
let root: string;
let prometheusUrl: string;
let abort: AbortController;
let run: Promise<ClusterSummary>;
const output = new LineSink();

async function api<T>(pathAndQuery: string): Promise<T> {
  const res = await fetch(`${prometheusUrl}${pathAndQuery}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${body.error ?? res.status}`);
  return body.data;
}

/** A range query over the last 15 s, as a Grafana panel asks; the series with any finite value. */
async function seriesWithData(expr: string): Promise<QueryResult[]> {
  const end = Date.now() / 1000;
  const q = new URLSearchParams({ query: expr, start: String(end - 15), end: String(end), step: '1' });
  const data = await api<{ result: QueryResult[] }>(`/api/v1/query_range?${q}`);
  return data.result.filter((r) => (r.values ?? []).some(([, v]) => Number.isFinite(Number(v))));
}

async function labelValues(selector: string, label: string): Promise<string[]> {
  return api<string[]>(`/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': selector })}`);
}

/** Every expression that must return data: [where, expr]. */
async function expressionsToProve(workers = false): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const { file, dashboard } of loadDashboards()) {
    if (isWorkerFile(file) !== workers) continue;
    const values = await variableValues(dashboard, workers ? WORKER_RUN : RUN);
    for (const q of panelQueries(dashboard)) {
      out.push([`${dashboard.uid} "${q.panel}" ${q.refId}`, substitute(q.expr, dashboard.templating.list, { values, ...GRAFANA })]);
    }
  }
  for (const r of loadRules().filter((x) => isWorkerFile(x.file) === workers)) {
    if (r.kind === 'record') {
      out.push([`rule ${r.name}`, r.expr], [`recorded series ${r.name}`, r.name]);
    } else {
      for (const part of dataExpressions(r.expr)) out.push([`alert ${r.name}: ${part}`, part]);
    }
  }
  return out;
}

/** The dashboard's variables as a user leaves them: this run, role "All", the hidden scheduler address. */
async function variableValues(d: Dashboard, run = RUN): Promise<Record<string, string[] | 'all'>> {
  const values: Record<string, string[] | 'all'> = { run: [run], role: 'all' };
  const scheduler = d.templating.list.find((v) => v.name === 'scheduler');
  if (scheduler) {
    const lv = labelValuesQuery(variableQuery(scheduler) ?? '')!;
    values.scheduler = (await labelValues(substitute(lv.selector, d.templating.list, { values, ...GRAFANA }), lv.label)).slice(0, 1);
  }
  return values;
}

describe('dashboards and rules against a real Prometheus scraping a real run', {
  skip: (!existsSync(PROMETHEUS) || !existsSync(PROMTOOL)) && 'prometheus/promtool not installed (apt-get install prometheus)',
}, () => {
  before(async () => {
    nats = await startTestNats();
    root = await tempDir('gantry-monitoring-');
    await initBackend('wasm', quietLog); // the fixture builds its classifier here
    const data = await writeTestSplit(path.join(root, 'data'), 40);
    const classifier = (await writeClassifierRun(path.join(root, 'runs'), 'classifier', { startedAt: '2026-01-01T00:00:00.000Z', dataDir: data })).runDir;
    // Long enough never to finish on its own: the test stops it once everything is proven.
    const cfg = tinyGanConfig({
      out: path.join(root, 'run'), iterations: 1_000_000, checkpointEvery: 25, keepCheckpoints: 2, sampleEvery: 10,
      evalEvery: 30, evalSamples: 100, classifier, discriminatorReplicas: 2,
    });
    abort = new AbortController();
    const events: ClusterEvent[] = [];
    run = echoOnFailure(output, runLocalCluster(cfg, {
      natsUrl: nats.url, runId: RUN, log: quietLog, output, progress: false, handleSignals: false, signal: abort.signal,
      prometheus: { interval: '1s' }, targetsDir: root, onEvent: (e) => events.push(e),
    }));
    run.catch(() => undefined); // awaited in after(); a failure before then shows in the waits below
    await waitFor(() => events.some((e) => e.type === 'prometheus'), 'the launcher to start Prometheus', 60_000);
    prometheusUrl = (events.find((e) => e.type === 'prometheus') as { url: string }).url;
  });

  after(async () => {
    abort?.abort();
    const summary = run ? await run.catch((err: unknown) => err) : undefined;
    await nats?.stop();
    if (root) await fsp.rm(root, { recursive: true, force: true });
    if (!run) return; // before() failed and says why
    assert.ok(!(summary instanceof Error), `the run failed: ${summary instanceof Error ? summary.message : ''}`);
    assert.equal((summary as ClusterSummary).status, 'stopped', 'the run was stopped by the test, not ended on its own');
  });

  it('scrapes every process of the run, labelled with run and role', async () => {
    await waitFor(async () => (await seriesWithData(`up{job="gantry", run="${RUN}"} == 1`)).length === TARGET_ROLES.length,
      'all four targets up', 60_000, 500);
    const up = await seriesWithData(`up{job="gantry", run="${RUN}"}`);
    assert.deepEqual(up.map((s) => s.metric.role).sort(), TARGET_ROLES);
    const roles = await labelValues(`gantry_info{job="gantry", run="${RUN}"}`, 'role');
    assert.deepEqual(roles.sort(), ROLES, 'the role label comes from the processes, not renamed to exported_role');
    // The discriminator replicas: each rank on its own page, with the workers' collective metrics.
    assert.deepEqual((await labelValues(`gantry_info{job="gantry", run="${RUN}", role="discriminator"}`, 'rank')).sort(), ['0', '1']);
    const replicas = await seriesWithData(`gantry_replicas{job="gantry", run="${RUN}", role="discriminator"}`);
    assert.deepEqual(replicas.map((r) => [r.metric.rank, Number(r.values!.at(-1)![1])]).sort(), [['0', 2], ['1', 2]]);
    await waitFor(async () => (await seriesWithData(`rate(gantry_collective_bytes_total{job="gantry", run="${RUN}", role="discriminator", op="allreduce"}[4s]) > 0`)).length === 2,
      'both ranks to send collective bytes', 60_000, 500);
  });

  it('loads every rule file, and every rule evaluates without error', async () => {
    await waitFor(async () => {
      const g = await api<{ groups: { rules: { health: string }[] }[] }>('/api/v1/rules');
      return g.groups.flatMap((x) => x.rules).every((r) => r.health === 'ok');
    }, 'every rule evaluated once', 30_000, 500);
    const groups = (await api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>('/api/v1/rules')).groups;
    const loaded = groups.flatMap((g) => g.rules.map((r) => r.name)).sort();
    assert.deepEqual(loaded, loadRules().map((r) => r.name).sort());
    for (const r of groups.flatMap((g) => g.rules)) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
  });

  it('every dashboard panel, recording rule and alert expression returns data', async () => {
    const exprs = await expressionsToProve();
    assert.ok(exprs.length >= 40, `only ${exprs.length} expressions`);
    let empty: string[] = [];
    // The run needs its first evaluation and checkpoint before the last panels have data.
    await waitFor(async () => {
      empty = [];
      for (const [where, expr] of exprs) if ((await seriesWithData(expr)).length === 0) empty.push(`${where}: ${expr}`);
      return empty.length === 0;
    }, 'data for every expression', 120_000, 1_000).catch(() => undefined);
    assert.deepEqual(empty, [], `expressions without data:\n${empty.join('\n')}`);
  });

  it('every template variable has values, this run and its roles among them', async () => {
    for (const { file, dashboard } of loadDashboards()) {
      if (isWorkerFile(file)) continue;
      for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
        const lv = labelValuesQuery(variableQuery(v) ?? '')!;
        const got = await labelValues(substitute(lv.selector, dashboard.templating.list, { values: { run: [RUN], role: 'all' }, ...GRAFANA }), lv.label);
        assert.ok(got.length > 0, `${dashboard.uid} variable ${v.name} has no values`);
        if (v.name === 'run') assert.ok(got.includes(RUN), `${dashboard.uid}: run values ${got}`);
        if (v.name === 'role') assert.deepEqual(got.sort(), ROLES);
      }
    }
  });

  it('the sample grid panel\'s image is the newest grid, served by the scheduler', async () => {
    const gan = loadDashboards().find((d) => d.dashboard.uid === 'gantry-gan-training')!.dashboard;
    const values = await variableValues(gan);
    const html = gan.panels.flatMap((p) => [p, ...(p.panels ?? [])]).find((p) => p.type === 'text')!.options!.content!;
    const src = /src="([^"]+)"/.exec(substitute(html, gan.templating.list, { values, ...GRAFANA }, {}, 'raw'))![1];
    await waitFor(async () => (await fetch(src)).status === 200, `${src} to serve a grid`, 30_000, 500);
    const res = await fetch(src);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const body = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...body.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  });

  it('promtool check metrics passes on the /metrics page of each process type', async () => {
    const targets = (await api<{ activeTargets: { scrapeUrl: string; labels: Record<string, string> }[] }>('/api/v1/targets')).activeTargets;
    assert.deepEqual(targets.map((t) => t.labels.role).sort(), TARGET_ROLES);
    for (const t of targets) {
      const page = await (await fetch(t.scrapeUrl)).text();
      assert.match(page, /^gantry_info\{/m);
      const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: page, encoding: 'utf8' });
      assert.equal(r.status, 0, `${t.labels.role}: ${r.stdout}${r.stderr}`);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `${t.labels.role}: ${r.stdout}${r.stderr}`);
    }
  });
});

describe('the workers dashboard and rules against a real Prometheus scraping a classifier run with 2 workers', {
  skip: (!existsSync(PROMETHEUS) || !existsSync(PROMTOOL)) && 'prometheus/promtool not installed (apt-get install prometheus)',
}, () => {
  let workersRun: Promise<WorkersSummary>;
  const events: WorkersEvent[] = [];

  before(async () => {
    nats = await startTestNats();
    root = await tempDir('gantry-monitoring-workers-');
    // Long enough never to finish on its own: the test stops it once everything is proven.
    const cfg = classifierTrainSchema.parse({
      preset: 'quick', maxSteps: 100_000, evalEvery: 1_000, checkpointEvery: 1_000, validationSize: 1000, batchSize: 16, seed: 1,
      out: path.join(root, 'run'), workers: 2,
    });
    abort = new AbortController();
    workersRun = echoOnFailure(output, runLocalWorkers(cfg, {
      natsUrl: nats.url, runId: WORKER_RUN, log: quietLog, output, progress: false, handleSignals: false, signal: abort.signal,
      prometheus: { interval: '1s' }, targetsDir: root, onEvent: (e) => events.push(e),
    }));
    workersRun.catch(() => undefined); // awaited in after()
    await waitFor(() => events.some((e) => e.type === 'prometheus'), 'the launcher to start Prometheus', 60_000);
    prometheusUrl = (events.find((e) => e.type === 'prometheus') as { url: string }).url;
  });

  after(async () => {
    abort?.abort();
    const summary = workersRun ? await workersRun.catch((err: unknown) => err) : undefined;
    await nats?.stop();
    if (root) await fsp.rm(root, { recursive: true, force: true });
    if (!workersRun) return;
    assert.ok(!(summary instanceof Error), `the run failed: ${summary instanceof Error ? summary.message : ''}`);
    assert.equal((summary as WorkersSummary).status, 'stopped', 'the run was stopped by the test, not ended on its own');
  });

  it('scrapes the scheduler and both workers, each worker labelled with its rank', async () => {
    await waitFor(async () => (await seriesWithData(`up{job="gantry", run="${WORKER_RUN}"} == 1`)).length === 3, 'all three targets up', 60_000, 500);
    const roles = await labelValues(`gantry_info{job="gantry", run="${WORKER_RUN}"}`, 'role');
    assert.deepEqual(roles.sort(), ['scheduler', 'worker']);
    await waitFor(async () => (await labelValues(`gantry_generation{job="gantry", run="${WORKER_RUN}"}`, 'rank')).length === 2,
      'both workers to have a rank', 60_000, 500);
    assert.deepEqual((await labelValues(`gantry_generation{job="gantry", run="${WORKER_RUN}"}`, 'rank')).sort(), ['0', '1']);
  });

  it('every workers panel, recording rule and alert expression returns data', async () => {
    const exprs = await expressionsToProve(true);
    assert.ok(exprs.length >= 15, `only ${exprs.length} expressions`);
    let empty: string[] = [];
    await waitFor(async () => {
      empty = [];
      for (const [where, expr] of exprs) if ((await seriesWithData(expr)).length === 0) empty.push(`${where}: ${expr}`);
      return empty.length === 0;
    }, 'data for every expression', 60_000, 1_000).catch(() => undefined);
    assert.deepEqual(empty, [], `expressions without data:\n${empty.join('\n')}`);
  });

  it('promtool check metrics passes on a worker\'s /metrics page', async () => {
    const targets = (await api<{ activeTargets: { scrapeUrl: string; labels: Record<string, string> }[] }>('/api/v1/targets')).activeTargets;
    const workers = targets.filter((t) => t.labels.role === 'worker');
    assert.equal(workers.length, 2);
    for (const t of workers) {
      const page = await (await fetch(t.scrapeUrl)).text();
      assert.match(page, /^gantry_collective_duration_seconds_bucket\{/m);
      const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: page, encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    }
  });
});

