// The run report: RUN_DIR/report.html, one self-contained file (Chart.js, the data and the sample
// grids inlined) that opens from disk. `gantry report RUN_DIR` and the trainers (at the end of a
// run) call writeReport.
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { writeFileAtomic } from '../run/atomic-file.ts';
import type { MetricsRecord } from '../run/metrics-log.ts';
import { classifierCharts, ganCharts, lastOfKind } from './charts.ts';
import { collectRunData, type RunData } from './collect.ts';
import { renderReportHtml, type ReportAssets, type ReportPage } from './template.ts';

export const REPORT_FILE = 'report.html';

let assets: Promise<ReportAssets> | undefined;

/** Chart.js's UMD bundle and the page's own script and styles, read once per process. */
export function loadAssets(): Promise<ReportAssets> {
  assets ??= (async () => {
    const require = createRequire(import.meta.url);
    // chart.js's "exports" hide dist/; the CommonJS entry sits next to the UMD bundle.
    const chartJsFile = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js');
    const here = path.join(path.dirname(new URL(import.meta.url).pathname), 'assets');
    const [chartJs, script, css] = await Promise.all([
      fsp.readFile(chartJsFile, 'utf8'),
      fsp.readFile(path.join(here, 'report.js'), 'utf8'),
      fsp.readFile(path.join(here, 'report.css'), 'utf8'),
    ]);
    return { chartJs, script, css };
  })();
  return assets;
}

const num = (v: unknown, digits: number): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function runInfoRows(info: Record<string, unknown> | undefined): [string, string][] {
  if (!info) return [];
  const rows: [string, string][] = [];
  const backend = (info.backend ?? {}) as Record<string, unknown>;
  if (backend.name !== undefined) rows.push(['backend', `${String(backend.name)} (${String(backend.device ?? 'unknown device')})`]);
  if (str(backend.kernels)) rows.push(['wasm kernels', String(backend.kernels)]);
  if (str(info.startedAt)) rows.push(['started', String(info.startedAt)]);
  if (str(info.finishedAt)) rows.push(['finished', String(info.finishedAt)]);
  if (str(info.resumedFrom)) rows.push(['resumed from', String(info.resumedFrom)]);
  for (const [k, v] of Object.entries((info.timings ?? {}) as Record<string, unknown>)) rows.push([`time: ${k}`, `${num(v, 1)} s`]);
  if (str(info.error)) rows.push(['error', String(info.error)]);
  return rows;
}

function ganRows(m: MetricsRecord[]): [string, string][] {
  const rows: [string, string][] = [];
  const train = lastOfKind(m, 'train');
  if (train) {
    rows.push(['iterations', String(train.iteration)]);
    rows.push(['last lossD / lossG', `${num(train.lossD, 4)} / ${num(train.lossG, 4)}`]);
    rows.push(['last dReal / dFake', `${num(train.dReal, 4)} / ${num(train.dFake, 4)}`]);
    rows.push(['speed', `${num(train.itPerSec, 2)} iterations/s`]);
  }
  const ev = lastOfKind(m, 'eval');
  if (ev) {
    rows.push([`MNIST score (iteration ${String(ev.iteration)}, ${String(ev.samples)} samples)`, num(ev.mnistScore, 3)]);
    rows.push(['Fréchet distance: features / logits', `${num(ev.fdFeatures, 3)} / ${num(ev.fdLogits, 4)}`]);
    rows.push(['classes >= 5% / KL(hist || uniform)', `${String(ev.classesCovered)} / ${num(ev.klUniform, 4)}`]);
  }
  return rows;
}

function classifierRows(m: MetricsRecord[]): { rows: [string, string][]; headline?: ReportPage['headline'] } {
  const rows: [string, string][] = [];
  const train = lastOfKind(m, 'train');
  if (train) rows.push(['steps', String(train.step)], ['epochs', String(Number(train.epoch) + 1)]);
  const validations = m.filter((r) => r.kind === 'validation' && typeof r.loss === 'number');
  if (validations.length > 0) {
    const best = validations.reduce((a, b) => ((b.loss as number) < (a.loss as number) ? b : a));
    rows.push(['best validation', `loss ${num(best.loss, 4)}, accuracy ${num(100 * Number(best.accuracy), 2)}% (step ${String(best.step)})`]);
  }
  const test = lastOfKind(m, 'test');
  if (!test) return { rows };
  rows.push(['test loss', num(test.loss, 4)]);
  return { rows, headline: { label: 'test accuracy', value: `${num(100 * Number(test.accuracy), 2)}%` } };
}

/** What the page shows, from a run directory's data. */
export function buildReportPage(data: RunData, now = new Date()): ReportPage {
  const status = str(data.runInfo?.status);
  const summary: [string, string][] = [['kind', data.kind], ...(status ? [['status', status] as [string, string]] : [])];
  summary.push(...runInfoRows(data.runInfo));
  let headline: ReportPage['headline'];
  if (data.kind === 'classifier') {
    const c = classifierRows(data.metrics);
    summary.push(...c.rows);
    headline = c.headline;
  } else {
    summary.push(...ganRows(data.metrics));
  }
  return {
    title: `gantry report: ${path.basename(data.runDir)}`,
    runDir: data.runDir, kind: data.kind, status, summary, headline, notes: data.notes,
    samples: data.samples, samplesOmitted: data.samplesOmitted,
    charts: data.kind === 'classifier' ? classifierCharts(data.metrics) : ganCharts(data.metrics),
    config: data.config, runInfo: data.runInfo, generatedAt: now.toISOString(),
  };
}

/** The report's HTML for a run directory. */
export async function renderReport(runDir: string): Promise<string> {
  const data = await collectRunData(runDir);
  return renderReportHtml(buildReportPage(data), await loadAssets());
}

/** Writes RUN_DIR/report.html (atomically) and returns its path. */
export async function writeReport(runDir: string): Promise<string> {
  const html = await renderReport(runDir);
  const file = path.join(path.resolve(runDir), REPORT_FILE);
  await writeFileAtomic(file, html);
  return file;
}
