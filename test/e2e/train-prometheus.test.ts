// `gantry train gan --prometheus` through the real CLI: it prints the URL of a Prometheus that
// scrapes the run's three processes (labelled with run and role) while it trains, and after a
// Ctrl-C leaves neither Prometheus nor the run's target file behind. Bad combinations are usage
// errors.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runIdFor } from '../../services/launcher/local-cluster.ts';
import { TARGETS_DIR } from '../../services/launcher/prometheus.ts';
import { GANTRY_BIN, LineSink } from '../harness/cluster.ts';
import { tempDir, waitFor } from '../harness/nats.ts';

const TINY = ['--preset', 'mlp', '--z-dim', '16', '--g-width', '32', '--d-width', '32', '--batch-size', '8', '--backend', 'wasm'];

async function gantry(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [GANTRY_BIN, ...args]);
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('gantry train gan --prometheus', { skip: !existsSync('/usr/bin/prometheus') && 'prometheus not installed' }, () => {
  let root: string;
  before(async () => { root = await tempDir('gantry-train-prometheus-'); });
  after(async () => { await fsp.rm(root, { recursive: true, force: true }); });

  it('starts a Prometheus scraping the run, prints its URL, and stops it with the run', async () => {
    const out = path.join(root, 'run');
    const stdout = new LineSink();
    const stderr = new LineSink();
    const child = spawn(process.execPath, [GANTRY_BIN, 'train', 'gan', ...TINY, '--iterations', '100000', '--out', out, '--prometheus'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GANTRY_LOG_FORMAT: 'json' } });
    child.stdout.pipe(stdout);
    child.stderr.pipe(stderr);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const line = await stdout.waitFor(/^Prometheus: http:\/\/127\.0\.0\.1:\d+$/, 60_000);
      const url = line.slice('Prometheus: '.length);
      const targetsFile = path.join(TARGETS_DIR, `${runIdFor(out)}.json`);
      assert.ok(existsSync(targetsFile), `${targetsFile} while the run trains`);
      let active: { labels: Record<string, string>; health: string }[] = [];
      await waitFor(async () => {
        const body = await (await fetch(`${url}/api/v1/targets`)).json() as { data: { activeTargets: typeof active } };
        active = body.data.activeTargets;
        return active.length === 3 && active.every((t) => t.health === 'up');
      }, 'three healthy targets', 30_000, 250);
      assert.deepEqual(active.map((t) => t.labels.role).sort(), ['discriminator', 'generator', 'scheduler']);
      assert.ok(active.every((t) => t.labels.run === runIdFor(out)));
      child.kill('SIGINT'); // Ctrl-C: the run stops after this iteration with a checkpoint
      assert.equal(await exited, 0, stderr.lines.slice(-20).join('\n'));
      assert.match(stdout.lines.join('\n'), /^stopped: \d+ iterations/m);
      assert.equal(await fetch(`${url}/-/ready`).then(() => 'answered', () => 'gone'), 'gone', 'Prometheus stopped with the run');
      assert.ok(!existsSync(targetsFile), 'the target file is removed');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects --prometheus with --in-process, --prometheus-port without --prometheus, and a bad port', async () => {
    const inProcess = await gantry('train', 'gan', '--in-process', '--prometheus', '--out', path.join(root, 'x'));
    assert.equal(inProcess.code, 2);
    assert.match(inProcess.stderr, /--prometheus is for distributed runs/);
    const portOnly = await gantry('train', 'gan', '--prometheus-port', '9090', '--out', path.join(root, 'y'));
    assert.equal(portOnly.code, 2);
    assert.match(portOnly.stderr, /--prometheus-port needs --prometheus/);
    const badPort = await gantry('train', 'gan', '--prometheus', '--prometheus-port', '70000');
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /expected a port 1\.\.65535, got "70000"/);
  });
});
