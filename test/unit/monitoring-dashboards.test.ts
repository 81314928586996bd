// The dashboard and rule linter (Grafana cannot be installed here): stable unique uids, the
// templated datasource on every panel, run/role variables, $__rate_interval in every rate(),
// every query parsing as PromQL, and no panel or rule naming a metric no process exports.
// Each alert carries severity, summary and description, has a runbook section in the README and
// promtool unit tests that see it fire and not fire.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createWorkerMetrics } from '../../services/telemetry/worker-metrics.ts';
import {
  allPanels, isWorkerFile, WORKER_FILES, type DashboardFile, dataExpressions, exportedMetricNames, labelValuesQuery,
  loadDashboards, loadRules, panelQueries, parsePromQL, REPO, type Rule, substitute, variableQuery,
} from '../harness/monitoring.ts';

/** The uids users and links depend on: changing one breaks bookmarks. */
const STABLE_UIDS: Record<string, string> = {
  'gan-training.json': 'gantry-gan-training',
  'processes.json': 'gantry-processes',
  'workers.json': 'gantry-workers',
};
/** Stands in for $__rate_interval so every rate() range can be told apart from a literal one. */
const RATE_SENTINEL = '7777s';
const SUBSTITUTION = { values: { run: ['run-1'], role: 'all' as const, scheduler: ['127.0.0.1:9464'] }, rateInterval: RATE_SENTINEL, interval: '1s' };

let dashboards: DashboardFile[];
let rules: Rule[];
let exported: Set<string>;
let workerContract: Set<string>;

before(async () => {
  dashboards = loadDashboards();
  rules = loadRules();
  exported = await exportedMetricNames();
  workerContract = new Set((await createWorkerMetrics(0).registry.getMetricsAsJSON()).flatMap((m) =>
    String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name]));
});

const recorded = (): Set<string> => new Set(rules.filter((r) => r.kind === 'record').map((r) => r.name));

/** Metric names `expr` uses that are neither exported by a process nor recorded by a rule. */
function unknownMetrics(expr: string): string[] {
  const known = (name: string): boolean => exported.has(name) || recorded().has(name);
  return parsePromQL(expr).metrics.filter((m) => !known(m));
}

describe('Grafana dashboards', () => {
  it('has the three dashboards with their stable, unique uids', () => {
    assert.deepEqual(Object.fromEntries(dashboards.map((d) => [path.basename(d.file), d.dashboard.uid])), STABLE_UIDS);
    assert.equal(new Set(dashboards.map((d) => d.dashboard.uid)).size, dashboards.length);
  });

  it('templates the datasource and has run and role variables drawn from it', () => {
    for (const { file, dashboard } of dashboards) {
      const vars = dashboard.templating.list;
      const ds = vars.find((v) => v.name === 'datasource');
      assert.equal(ds?.type, 'datasource', `${file}: no datasource variable`);
      assert.equal(variableQuery(ds!), 'prometheus', `${file}: the datasource variable must list Prometheus datasources`);
      for (const v of vars.filter((x) => x.type === 'query')) {
        assert.equal(v.datasource?.uid, '${datasource}', `${file}: variable ${v.name} does not use \${datasource}`);
        const lv = labelValuesQuery(variableQuery(v) ?? '');
        assert.ok(lv, `${file}: variable ${v.name}: expected label_values(selector, label), found ${variableQuery(v)}`);
        const selector = substitute(lv.selector, vars, SUBSTITUTION);
        assert.deepEqual(parsePromQL(selector).errors, [], `${file}: variable ${v.name}: ${selector} does not parse`);
        assert.deepEqual(unknownMetrics(selector), [], `${file}: variable ${v.name}`);
      }
      for (const name of ['run', 'role']) assert.ok(vars.some((v) => v.name === name && v.type === 'query'), `${file}: no ${name} variable`);
    }
  });

  it('every panel has a unique id and a title; every data panel and query uses ${datasource}', () => {
    for (const { file, dashboard } of dashboards) {
      const panels = allPanels(dashboard);
      assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, `${file}: duplicate panel ids`);
      for (const p of panels) {
        assert.ok(p.title.trim().length > 0, `${file}: panel ${p.id} has no title`);
        if (p.type === 'row' || p.type === 'text') continue;
        assert.ok((p.targets ?? []).length > 0, `${file}: panel "${p.title}" has no query`);
        assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${file}: panel "${p.title}" datasource`);
        for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${datasource}', `${file}: panel "${p.title}" ${t.refId} datasource`);
      }
    }
  });

  it('every query parses, every rate() uses $__rate_interval, every metric is exported or recorded', () => {
    let checked = 0;
    for (const { file, dashboard } of dashboards) {
      for (const q of panelQueries(dashboard)) {
        const where = `${path.basename(file)} "${q.panel}" ${q.refId}`;
        const expr = substitute(q.expr, dashboard.templating.list, SUBSTITUTION);
        const parsed = parsePromQL(expr);
        assert.deepEqual(parsed.errors, [], `${where}: does not parse: ${expr}`);
        for (const r of parsed.ranges) assert.equal(r.range, RATE_SENTINEL, `${where}: ${r.fn}() over ${r.range}, not $__rate_interval`);
        assert.deepEqual(unknownMetrics(expr), [], `${where}: metrics no process exports`);
        checked++;
      }
    }
    assert.ok(checked >= 30, `only ${checked} queries found`);
  });

  it('the sample grid panel shows the scheduler\'s /samples/latest.png through the scheduler variable', () => {
    const gan = dashboards.find((d) => d.dashboard.uid === 'gantry-gan-training')!.dashboard;
    const grid = allPanels(gan).find((p) => p.type === 'text' && (p.options?.content ?? '').includes('/samples/latest.png'));
    assert.ok(grid, 'no text panel showing /samples/latest.png');
    assert.equal(grid.options?.mode, 'html');
    assert.match(grid.options!.content!, /src="http:\/\/\$\{scheduler\}\/samples\/latest\.png"/);
    const v = gan.templating.list.find((x) => x.name === 'scheduler');
    assert.equal(labelValuesQuery(variableQuery(v!) ?? '')?.label, 'instance');
  });

  it('the worker files exist and the workers dashboard uses only the worker metric contract', () => {
    for (const rel of WORKER_FILES) assert.ok(readdirSync(path.dirname(path.join(REPO, rel))).includes(path.basename(rel)), `${rel} missing`);
    const workers = dashboards.find((d) => isWorkerFile(d.file))!;
    for (const q of panelQueries(workers.dashboard)) {
      const metrics = parsePromQL(substitute(q.expr, workers.dashboard.templating.list, SUBSTITUTION)).metrics;
      assert.ok(metrics.every((m) => workerContract.has(m) || recorded().has(m)), `"${q.panel}": ${metrics.join(', ')}`);
    }
  });
});

describe('Prometheus rules', () => {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');

  it('every rule parses and uses only exported or recorded metrics; recording names are level:metric:operations', () => {
    assert.ok(rules.length >= 15);
    for (const r of rules) {
      assert.deepEqual(parsePromQL(r.expr).errors, [], `${r.name}: does not parse`);
      assert.deepEqual(unknownMetrics(r.expr), [], `${r.name}: metrics no process exports`);
      if (r.kind === 'record') assert.match(r.name, /^[a-z_]+:gantry_[a-z_]+:[a-z0-9_]+$/, `${r.name}: not level:metric:operations`);
    }
  });

  it('every alert has a severity, a summary, a description and a runbook section in the README', () => {
    const alerts = rules.filter((r) => r.kind === 'alert');
    assert.ok(alerts.length >= 9, `only ${alerts.length} alerts`);
    for (const a of alerts) {
      assert.ok(['critical', 'warning'].includes(a.labels.severity ?? ''), `${a.name}: severity ${a.labels.severity}`);
      assert.ok((a.annotations.summary ?? '').length > 10, `${a.name}: no summary`);
      assert.ok((a.annotations.description ?? '').length > 20, `${a.name}: no description`);
      assert.match(readme, new RegExp(`^#### \`${a.name}\``, 'm'), `${a.name}: no runbook section (#### \`${a.name}\`) in README.md`);
    }
  });

  it('every alert has promtool unit tests in which it fires and in which it does not', () => {
    type TestFile = { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    const dir = path.join(REPO, 'deploy/prometheus/tests');
    const cases = readdirSync(dir).filter((n) => n.endsWith('.test.yml')).flatMap((n) =>
      (parseYaml(readFileSync(path.join(dir, n), 'utf8')) as TestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    for (const a of rules.filter((r) => r.kind === 'alert')) {
      const mine = cases.filter((c) => c.alertname === a.name);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${a.name}: no promtool test where it fires`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${a.name}: no promtool test where it does not fire`);
    }
  });

  it('splits alert expressions into the parts that carry data', () => {
    assert.deepEqual(dataExpressions('up{job="gantry"} == 0'), ['up{job="gantry"}']);
    assert.deepEqual(dataExpressions('(a > 0.99 and on (run) b < 0.01) or c - 2 < d'), ['a', 'b', 'c - 2', 'd']);
    assert.deepEqual(dataExpressions('x > bool 1'), ['x > bool 1']);
    assert.deepEqual(dataExpressions('sum by (run) (rate(x[5m])) unless on (run) (y == 1)'), ['sum by (run) (rate(x[5m]))', 'y']);
  });
});

describe('Grafana variable substitution', () => {
  const vars = [
    { name: 'run', type: 'query' }, { name: 'role', type: 'query', includeAll: true, allValue: '.*' },
    { name: 'rank', type: 'query', includeAll: true, multi: true }, { name: 'host', type: 'query', multi: true },
  ];
  it('substitutes single, multiple and All values as Grafana does', () => {
    const s = { values: { run: ['gan-1.2'], role: 'all' as const, rank: 'all' as const, host: ['a.b'] }, rateInterval: '4s', interval: '1s' };
    const q = 'x{run=~"$run", role=~"${role}", rank=~"$rank", host=~"$host"}[$__rate_interval]';
    const out = substitute(q, vars, s, { rank: ['0', '1'] });
    assert.equal(out, String.raw`x{run=~"gan-1.2", role=~".*", rank=~"(0|1)", host=~"a\\.b"}[4s]`);
    assert.deepEqual(parsePromQL(out).errors, []);
    assert.equal(substitute('x{rank=~"$rank"}', vars, { ...s, values: { rank: ['1', '2'] } }), 'x{rank=~"(1|2)"}');
    assert.equal(substitute('<img src="http://${host}/a.png">', vars, s, {}, 'raw'), '<img src="http://a.b/a.png">');
    assert.equal(substitute('x{run=~"$unknown"}', vars, s), 'x{run=~"$unknown"}');
  });
});
