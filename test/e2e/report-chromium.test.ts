// The report opened from disk in Debian's headless chromium (through playwright-core): every chart
// is a live Chart.js instance with pixels on its canvas, the sample grids decode, and nothing
// reaches the console, pageerror or the network. Skipped only when /usr/bin/chromium is absent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { writeReport } from '../../services/report/report.ts';
import { tempDir, writeClassifierRunDir, writeGanRunDir } from '../unit/report-fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (scripts/setup.sh installs Debian's chromium)`;

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

let root: string;
let context: BrowserContext | undefined;
before(async () => {
  root = await tempDir('gantry-report-e2e-');
  if (skip) return;
  // launchPersistentContext owns --user-data-dir: a fresh one per run.
  context = await chromium.launchPersistentContext(path.join(root, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS });
});
after(async () => {
  await context?.close();
  await fsp.rm(root, { recursive: true, force: true });
});

interface PageCheck {
  charts: { id: string; isChart: boolean; width: number; painted: number; colored: number; drawnPoints: number }[];
  instances: number;
  images: { ok: boolean; width: number }[];
  pwned: boolean;
}

/**
 * Runs in the page (plain JS: the test's TypeScript has no DOM types). painted: non-transparent
 * pixels; colored: pixels in a dataset colour (Chart.js draws axes and text in greys).
 */
const BROWSER_CHECK = `(() => {
  const canvases = [...document.querySelectorAll('canvas')];
  return {
    instances: (window.gantryCharts || []).length,
    pwned: window.__pwned !== undefined,
    images: [...document.querySelectorAll('img')].map((img) => ({ ok: img.complete, width: img.naturalWidth })),
    charts: canvases.map((c) => {
      const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let painted = 0, colored = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i + 3] === 0) continue;
        painted++;
        const r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 60) colored++;
      }
      const chart = window.Chart.getChart(c);
      const drawnPoints = chart ? chart.data.datasets.reduce((n, _d, i) => n + chart.getDatasetMeta(i).data.length, 0) : 0;
      return { id: c.id, isChart: chart !== undefined, width: c.width, painted, colored, drawnPoints };
    }),
  };
})()`;

async function openReport(file: string): Promise<{ check: PageCheck; problems: string[] }> {
  const page = await context!.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => { if (!/^(file|data):/.test(r.url())) problems.push(`network request: ${r.url()}`); });
  try {
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const check = (await page.evaluate(BROWSER_CHECK)) as PageCheck;
    return { check, problems };
  } finally {
    await page.close();
  }
}

function assertRendered(check: PageCheck, ids: string[]): void {
  assert.deepEqual(check.charts.map((c) => c.id), ids.map((id) => `chart-${id}`));
  assert.equal(check.instances, ids.length);
  for (const c of check.charts) {
    assert.ok(c.isChart, `${c.id} is a Chart.js chart`);
    assert.ok(c.width > 100, `${c.id} has a laid-out canvas (width ${c.width})`);
    assert.ok(c.painted > 500, `${c.id} has painted pixels (${c.painted})`);
    assert.ok(c.colored > 300, `${c.id} has pixels in a series colour: lines were drawn (${c.colored})`);
    assert.ok(c.drawnPoints >= 2, `${c.id} laid out its data points (${c.drawnPoints})`);
  }
}

test('a GAN run report renders every chart and sample grid, with no errors and no network', { skip }, async () => {
  const file = await writeReport(await writeGanRunDir(path.join(root, 'gan')));
  const { check, problems } = await openReport(file);
  assert.deepEqual(problems, []);
  assertRendered(check, ['losses', 'd-outputs', 'mnist-score', 'frechet', 'coverage', 'speed']);
  assert.deepEqual(check.images, [{ ok: true, width: 28 }, { ok: true, width: 28 }]);
  assert.equal(check.pwned, false, 'the </script> in config.json did not run');
});

test('a classifier run report renders its training vs validation charts', { skip }, async () => {
  const file = await writeReport(await writeClassifierRunDir(path.join(root, 'classifier')));
  const { check, problems } = await openReport(file);
  assert.deepEqual(problems, []);
  assertRendered(check, ['loss', 'accuracy', 'lr']);
  assert.equal(check.pwned, false);
});
