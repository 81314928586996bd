// promtool (Debian's prometheus package) on everything in deploy/prometheus: the scrape configs
// (local, Compose, the Kubernetes example, and the one `gantry train --prometheus` writes), the
// rule files, and the rules' unit tests (every alert firing and not firing).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localPrometheusConfig, writeRunTargets } from '../../services/launcher/prometheus.ts';
import { REPO, ruleFilePaths, RULES_DIR } from '../harness/monitoring.ts';

const PROMTOOL = '/usr/bin/promtool';
const DIR = path.join(REPO, 'deploy/prometheus');

function promtool(args: string[], cwd = DIR): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('promtool on deploy/prometheus', { skip: !existsSync(PROMTOOL) && `${PROMTOOL} not installed (apt-get install prometheus)` }, () => {
  let tmp: string;
  before(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-promtool-')); });
  after(async () => { await fsp.rm(tmp, { recursive: true, force: true }); });

  /** `file` with the container paths of its rule files pointed at this checkout's rules. */
  async function withLocalRules(file: string, edit: (text: string) => string = (t) => t): Promise<string> {
    const text = await fsp.readFile(path.join(DIR, file), 'utf8');
    const out = path.join(tmp, file);
    await fsp.writeFile(out, edit(text.replaceAll('/etc/prometheus/rules/', `${RULES_DIR}/`)));
    return out;
  }

  const ruleCount = ruleFilePaths().length;

  it('check config: the local config, loading every rule file', () => {
    const r = promtool(['check', 'config', 'prometheus.local.yml']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${ruleCount} rule files found`), r.out);
  });

  it('check config: the Compose config', async () => {
    const r = promtool(['check', 'config', await withLocalRules('prometheus.compose.yml')]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${ruleCount} rule files found`), r.out);
  });

  it('check config: the Kubernetes example (relabelling checked; Debian builds Prometheus without kubernetes_sd)', async () => {
    const plain = promtool(['check', 'config', '--syntax-only', 'prometheus.kubernetes.yml']);
    // Debian's build drops the Kubernetes discovery: the only complaint may be that field.
    if (plain.status !== 0) assert.match(plain.out, /field kubernetes_sd_configs not found/, plain.out);
    const file = await withLocalRules('prometheus.kubernetes.yml', (t) => {
      const swapped = t.replace(/kubernetes_sd_configs:\n\s+- role: pod\n/, 'static_configs:\n      - targets: []\n');
      assert.notEqual(swapped, t, 'kubernetes_sd_configs block not found');
      return swapped;
    });
    const r = promtool(['check', 'config', file]);
    assert.equal(r.status, 0, r.out);
  });

  it('check config: what `gantry train gan --prometheus` writes', async () => {
    const targets = await writeRunTargets('run-1', [{ role: 'scheduler', port: 9464 }], tmp);
    const file = path.join(tmp, 'prometheus.yml');
    await fsp.writeFile(file, localPrometheusConfig(targets, '1s'));
    const r = promtool(['check', 'config', file]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${ruleCount} rule files found`), r.out);
  });

  it('check rules: every rule file', () => {
    const r = promtool(['check', 'rules', ...ruleFilePaths()]);
    assert.equal(r.status, 0, r.out);
    assert.equal((r.out.match(/SUCCESS: \d+ rules found/g) ?? []).length, ruleCount, r.out);
  });

  it('test rules: the unit tests of every alert pass', () => {
    const tests = readdirSync(path.join(DIR, 'tests')).filter((n) => n.endsWith('.test.yml')).map((n) => path.join('tests', n));
    assert.ok(tests.length >= 2);
    const r = promtool(['test', 'rules', ...tests]);
    assert.equal(r.status, 0, r.out);
    assert.equal((r.out.match(/SUCCESS/g) ?? []).length, tests.length, r.out);
  });
});
