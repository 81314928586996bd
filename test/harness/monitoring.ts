// Test harness for what users build on /metrics: the Grafana dashboards in deploy/grafana and the
// Prometheus rules in deploy/prometheus. It reads them, substitutes template variables as
// Grafana does, parses PromQL with Prometheus' own lezer grammar, and knows which metric names
// gantry's processes export. The dashboard linter and the real-Prometheus test both use it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import { parse as parseYaml } from 'yaml';
import { ruleFiles, RULES_DIR } from '../../services/launcher/prometheus.ts';
import { createMetrics } from '../../services/telemetry/metrics.ts';
import { createSchedulerMetrics } from '../../services/telemetry/scheduler-metrics.ts';
import { createWorkerMetrics } from '../../services/telemetry/worker-metrics.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const DASHBOARDS_DIR = path.join(REPO, 'deploy/grafana/dashboards');
export { RULES_DIR };

/**
 * The files about the data-parallel classifier's workers. The real-Prometheus test proves them
 * against a classifier run with workers; every other file against a GAN run.
 */
export const WORKER_FILES: readonly string[] = [
  'deploy/grafana/dashboards/workers.json',
  'deploy/prometheus/rules/workers.rules.yml',
];

export const isWorkerFile = (file: string): boolean => WORKER_FILES.includes(path.relative(REPO, file));

// ---- dashboards ----

export interface Target { refId: string; expr: string; datasource?: { type?: string; uid?: string } }
export interface Panel {
  id: number; type: string; title: string; datasource?: { type?: string; uid?: string };
  targets?: Target[]; panels?: Panel[]; options?: { content?: string; mode?: string };
}
export interface Variable {
  name: string; type: string; query?: string | { query: string }; datasource?: { type?: string; uid?: string };
  includeAll?: boolean; allValue?: string; multi?: boolean;
}
export interface Dashboard { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } }

export interface DashboardFile { file: string; dashboard: Dashboard }

export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARDS_DIR).filter((n) => n.endsWith('.json')).sort().map((n) => {
    const file = path.join(DASHBOARDS_DIR, n);
    return { file, dashboard: JSON.parse(readFileSync(file, 'utf8')) as Dashboard };
  });
}

/** Every panel, rows' nested panels included (rows themselves too). */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export interface PanelQuery { dashboard: string; panel: string; refId: string; expr: string }

export function panelQueries(d: Dashboard): PanelQuery[] {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ dashboard: d.uid, panel: p.title, refId: t.refId, expr: t.expr })));
}

export function variableQuery(v: Variable): string | undefined {
  return typeof v.query === 'string' ? v.query : v.query?.query;
}

/** label_values(SELECTOR, label) -> { selector, label } (Grafana's query-variable function). */
export function labelValuesQuery(q: string): { selector: string; label: string } | undefined {
  const m = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/s.exec(q.trim());
  return m ? { selector: m[1], label: m[2] } : undefined;
}

// ---- Grafana's variable substitution ----

/** What a variable is set to: values, or Grafana's "All". */
export type VariableValue = string[] | 'all';

export interface Substitution {
  /** Dashboard variables by name (without $). */
  values: Record<string, VariableValue>;
  /** Grafana's $__rate_interval, e.g. "4s": max($__interval + scrape interval, 4 x scrape interval). */
  rateInterval: string;
  /** Grafana's $__interval, e.g. "1s". */
  interval: string;
}

// Grafana's Prometheus escapes (public/app/plugins/datasource/prometheus): inside a PromQL string
// a regex escape needs two backslashes.
const regularEscape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
const regexEscape = (v: string): string => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');

/**
 * Grafana's interpolation. In a Prometheus query ('promql'): a variable that is neither multi
 * nor include-all goes in as it is (quotes and backslashes escaped); otherwise each value is
 * regex-escaped, several joined as (a|b), and "All" is the allValue (or every option as (a|b):
 * `options` lists them). In a text panel ('raw') values go in as they are. Unknown variables
 * are left in place (the linter then finds a query that does not parse).
 */
export function substitute(expr: string, vars: Variable[], s: Substitution, options: Record<string, string[]> = {}, format: 'promql' | 'raw' = 'promql'): string {
  const builtins: Record<string, string> = { __rate_interval: s.rateInterval, __interval: s.interval };
  return expr.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare!;
    if (name in builtins) return builtins[name];
    const v = vars.find((x) => x.name === name);
    const value = s.values[name];
    if (!v || value === undefined) return whole;
    if (value === 'all' && v.allValue !== undefined) return v.allValue;
    const list = value === 'all' ? options[name] ?? [] : value;
    if (format === 'raw') return list.join(',');
    if (!v.multi && !v.includeAll) return regularEscape(list[0] ?? '');
    const escaped = list.map(regexEscape);
    return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
  });
}

// ---- PromQL ----

export interface ParsedPromQL {
  /** Offsets of syntax errors (empty: the query parses). */
  errors: number[];
  /** Metric names of every vector selector. */
  metrics: string[];
  /** Each range-taking counter function (rate, irate, increase) with its range as written. */
  ranges: { fn: string; range: string }[];
}

const COUNTER_FUNCTIONS = new Set(['rate', 'irate', 'increase']);

export function parsePromQL(expr: string): ParsedPromQL {
  const tree = parser.parse(expr);
  const out: ParsedPromQL = { errors: [], metrics: [], ranges: [] };
  tree.iterate({
    enter(n) {
      if (n.type.isError) out.errors.push(n.from);
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) out.metrics.push(expr.slice(id.from, id.to));
      }
      if (n.name === 'FunctionCall') {
        const fn = n.node.getChild('FunctionIdentifier');
        const name = fn ? expr.slice(fn.from, fn.to) : '';
        if (!COUNTER_FUNCTIONS.has(name)) return;
        const matrix = n.node.getChild('FunctionCallBody')?.getChild('MatrixSelector');
        const range = matrix?.getChild('DurationExpr');
        out.ranges.push({ fn: name, range: range ? expr.slice(range.from, range.to) : '(no range)' });
      }
    },
  });
  return out;
}

const FILTER_OPERATORS = new Set(['Eql', 'Neq', 'Gtr', 'Lss', 'Gte', 'Lte', 'And', 'Or', 'Unless']);
const NOT_OPERANDS = new Set(['BoolModifier', 'MatchingModifierClause']);

/**
 * The data-carrying parts of an alert expression: comparisons and set operators (without
 * `bool`) are filters, so each operand is returned instead (recursively, through parentheses),
 * number literals dropped. `x > 0.99 and on (run) y < 0.01` -> [x, y]. An alert that does not
 * fire returns nothing; its operands must still return series for the alert to mean anything.
 */
export function dataExpressions(expr: string): string[] {
  const split = (node: SyntaxNode): string[] => {
    if (node.name === 'ParenExpr') return node.firstChild ? split(node.firstChild) : [];
    if (node.name === 'NumberDurationLiteral') return [];
    if (node.name === 'BinaryExpr') {
      const children: SyntaxNode[] = [];
      for (let c = node.firstChild; c; c = c.nextSibling) children.push(c);
      const op = children.find((c) => FILTER_OPERATORS.has(c.name));
      if (op && !children.some((c) => c.name === 'BoolModifier')) {
        return children.filter((c) => c !== op && !NOT_OPERANDS.has(c.name)).flatMap(split);
      }
    }
    return [expr.slice(node.from, node.to)];
  };
  const top = parser.parse(expr).topNode.firstChild;
  return top ? split(top) : [];
}

// ---- rules ----

export interface Rule {
  file: string; group: string; kind: 'record' | 'alert'; name: string; expr: string;
  for?: string; labels: Record<string, string>; annotations: Record<string, string>;
}

interface RuleFileYaml {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}

export { ruleFiles as ruleFilePaths };

export function loadRules(files = ruleFiles()): Rule[] {
  return files.flatMap((file) => (parseYaml(readFileSync(file, 'utf8')) as RuleFileYaml).groups.flatMap((g) => g.rules.map((r) => ({
    file, group: g.name, kind: r.record ? 'record' as const : 'alert' as const, name: r.record ?? r.alert ?? '(unnamed)',
    expr: r.expr.trim(), for: r.for, labels: r.labels ?? {}, annotations: r.annotations ?? {},
  }))));
}

// ---- what the processes export ----

/**
 * Every series name on the /metrics pages of gantry's processes (generator, discriminator,
 * scheduler, data-parallel worker), histograms expanded to _bucket/_sum/_count, plus Prometheus' own `up`.
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set(['up']);
  for (const m of [createMetrics('generator'), createMetrics('discriminator'), createSchedulerMetrics(), createWorkerMetrics(0)]) {
    for (const metric of await m.registry.getMetricsAsJSON()) {
      const base = metric.name;
      const type = String(metric.type);
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(base + s);
      else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(base + s);
      else names.add(base);
    }
  }
  return names;
}
