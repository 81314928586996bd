// The report page from synthetic run directories: the data it embeds, what it leaves out, and
// that no config string can break out of its script or markup.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { renderReport, writeReport } from '../../services/report/report.ts';
import { escapeHtml, inlineScript, scriptJson } from '../../services/report/escape.ts';
import { thin } from '../../services/report/collect.ts';
import type { ChartSpec } from '../../services/report/charts.ts';
import { HOSTILE, tempDir, writeClassifierRunDir, writeGanRunDir } from './report-fixtures.ts';

let root: string;
before(async () => { root = await tempDir(); });
after(async () => fsp.rm(root, { recursive: true, force: true }));

function chartsOf(html: string): ChartSpec[] {
  const m = /<script type="application\/json" id="gantry-report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the data block is present');
  return (JSON.parse(m[1]) as { charts: ChartSpec[] }).charts;
}

test('escaping: HTML text, JSON in a script, inlined scripts', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const json = scriptJson({ s: HOSTILE });
  assert.ok(!/<\/script/i.test(json) && !json.includes('<!--'), json);
  assert.deepEqual(JSON.parse(json), { s: HOSTILE }, 'the escaped JSON parses back to the same value');
  const js = inlineScript('var a = "</script>"; var b = /<\\/script>/u; // <!-- x\n//# sourceMappingURL=chart.umd.js.map\n');
  assert.ok(!/<\/script/i.test(js) && !js.includes('<!--') && !js.includes('sourceMappingURL'), js);
  // The rewritten source still means the same.
  const fn = new Function(`${js}; return [a, b.source];`) as () => [string, string];
  assert.deepEqual(fn(), ['</script>', '<\\/script>']);
});

test('a GAN run: sample grids as data URIs, loss, D-output and score charts, config and backend', async () => {
  const dir = await writeGanRunDir(path.join(root, 'gan-1'));
  const html = await renderReport(dir);
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 2);
  assert.match(html, /iteration 20<\/figcaption>[\s\S]*iteration 40<\/figcaption>/);
  const charts = chartsOf(html);
  assert.deepEqual(charts.map((c) => c.id), ['losses', 'd-outputs', 'mnist-score', 'frechet', 'coverage', 'speed']);
  const losses = charts[0];
  assert.deepEqual(losses.series.map((s) => s.label), ['lossD (discriminator)', 'lossG (generator)']);
  assert.equal(losses.series[0].points.length, 40, 'the null lossD of the last record is left out');
  assert.equal(losses.series[1].points.length, 41);
  assert.deepEqual(charts[2].series[0].points, [[20, 4], [40, 6]]);
  for (const c of charts) assert.ok(html.includes(`<canvas id="chart-${c.id}">`), c.id);
  assert.match(html, /wasm \(CPU \(wasm SIMD, 1 thread\)\)/);
  assert.match(html, /time: trainingSeconds<\/th><td>2\.0 s/);
  assert.match(html, /&quot;preset&quot;: &quot;dcgan&quot;/, 'config.json is shown');
});

test('a config string holding </script> or <!-- cannot break the page', async () => {
  const dir = await writeGanRunDir(path.join(root, 'gan-hostile'));
  const html = await renderReport(dir);
  assert.ok(!html.includes('<script>window.__pwned'), 'the hostile string is not markup');
  // Exactly the page's own three scripts open and close.
  assert.equal((html.match(/<script\b/gi) ?? []).length, 3);
  assert.equal((html.match(/<\/script/gi) ?? []).length, 3);
  assert.ok(!html.includes('<!--'));
  assert.ok(html.includes(escapeHtml(JSON.stringify(HOSTILE)).slice(1, 20)), 'shown as text in the config section');
});

test('a classifier run: training vs validation curves and the test accuracy', async () => {
  const dir = await writeClassifierRunDir(path.join(root, 'classifier-1'));
  const file = await writeReport(dir);
  assert.equal(file, path.join(dir, 'report.html'));
  const html = await fsp.readFile(file, 'utf8');
  assert.match(html, /<span class="big">98\.12%<\/span> test accuracy/);
  const charts = chartsOf(html);
  assert.deepEqual(charts.map((c) => c.id), ['loss', 'accuracy', 'lr']);
  assert.deepEqual(charts[0].series.map((s) => [s.label, s.points.length]), [['training', 30], ['validation', 3]]);
  assert.match(html, /best validation<\/th><td>loss 0\.0733, accuracy 93\.00% \(step 30\)/);
  assert.ok(!html.includes('<img '), 'no sample grids for a classifier');
});

test('missing files become notes; a missing directory is an error', async () => {
  const dir = path.join(root, 'empty-run');
  await fsp.mkdir(dir);
  const html = await renderReport(dir);
  assert.match(html, /run\.json is missing/);
  assert.match(html, /metrics\.jsonl is missing/);
  assert.match(html, /No metrics recorded yet/);
  await assert.rejects(renderReport(path.join(root, 'nope')), /not a run directory/);
});

test('thin keeps first and last and spreads the rest', () => {
  assert.deepEqual(thin([1, 2, 3, 4, 5, 6, 7, 8, 9], 3), [1, 5, 9]);
  assert.deepEqual(thin([1, 2], 5), [1, 2]);
});
