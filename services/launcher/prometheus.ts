// A local Prometheus for a local cluster (`gantry train gan --prometheus`) and for the tests that
// prove the dashboards and rules against a real one. Three parts:
//   - the file_sd target file of a run: one target per process with labels {run, role}, written
//     to a per-run file under TARGETS_DIR (deploy/prometheus/prometheus.local.yml reads them all,
//     so a standing Prometheus finds every local run) and removed when the run ends;
//   - the configuration: job "gantry" reading that file, the rule files of deploy/prometheus/rules;
//   - the process: Debian's `prometheus` under the parent watchdog (nats-server.ts), listening on
//     loopback, ready when GET /-/ready answers 200. Its TSDB lives in a directory the caller
//     owns (the launcher's temporary directory: the data goes with the run).
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killGroup, WATCHDOG } from './nats-server.ts';
import { freePort } from './ports.ts';

/** Where local runs publish their targets (file_sd): one JSON file per run id. */
export const TARGETS_DIR = path.join(os.tmpdir(), 'gantry-prometheus-targets');
export const RULES_DIR = path.resolve(fileURLToPath(new URL('../../deploy/prometheus/rules/', import.meta.url)));
/** The scrape job every process of a run is in; the rules and dashboards select on it. */
export const SCRAPE_JOB = 'gantry';

export interface ScrapeTarget {
  role: string;
  port: number;
  /** A replica's rank (discriminator replicas): labels its `up` series. */
  rank?: number;
}

export class PrometheusError extends Error {
  override readonly name = 'PrometheusError';
}

/** Writes the run's file_sd file (atomically: Prometheus re-reads it on change); returns its path. */
export async function writeRunTargets(runId: string, targets: ScrapeTarget[], dir = TARGETS_DIR): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${runId}.json`);
  const groups = targets.map((t) => ({ targets: [`127.0.0.1:${t.port}`], labels: { run: runId, role: t.role, ...(t.rank === undefined ? {} : { rank: String(t.rank) }) } }));
  await fsp.writeFile(`${file}.tmp`, JSON.stringify(groups, null, 2));
  await fsp.rename(`${file}.tmp`, file);
  return file;
}

/** Every rule file gantry ships (GAN, processes, workers). */
export function ruleFiles(dir = RULES_DIR): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.rules.yml')).sort().map((n) => path.join(dir, n));
}

/**
 * prometheus.yml for one run as JSON (a YAML subset Prometheus reads): `interval` is the scrape
 * and rule evaluation interval, e.g. "5s" (Grafana's $__rate_interval is derived from it).
 */
export function localPrometheusConfig(targetsFile: string, interval: string, rules = ruleFiles()): string {
  return JSON.stringify({
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: rules,
    // honor_labels: the processes' own role (and rank) label wins over the target's, which only
    // `up` carries; without it every series would get an exported_role label.
    scrape_configs: [{ job_name: SCRAPE_JOB, honor_labels: true, file_sd_configs: [{ files: [targetsFile], refresh_interval: interval }] }],
  }, null, 2);
}

export interface PrometheusOptions {
  configFile: string;
  dataDir: string;
  port?: number;
  binary?: string;
  readyTimeoutMs?: number;
}

export interface PrometheusProcess {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusProcess> {
  const port = opts.port ?? (await freePort());
  const binary = opts.binary ?? 'prometheus';
  const args = [`--config.file=${opts.configFile}`, `--storage.tsdb.path=${opts.dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  const child = spawn('sh', ['-c', WATCHDOG, 'sh', String(process.pid), binary, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    tail.push(...chunk.split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 20));
  });
  const url = `http://127.0.0.1:${port}`;
  const proc = handle(child, url, exited);
  const why = await untilReady(url, exited, opts.readyTimeoutMs ?? 20_000);
  if (why !== undefined) {
    await proc.stop(1_000);
    throw new PrometheusError(`${binary} ${args.join(' ')}: ${why}${tail.length ? `; last output:\n${tail.join('\n')}` : ''}`);
  }
  return proc;
}

/** undefined once /-/ready answers 200, else why not. */
async function untilReady(url: string, exited: Promise<number | null>, timeoutMs: number): Promise<string | undefined> {
  let exitCode: number | null | undefined;
  void exited.then((c) => { exitCode = c; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      return exitCode === 127 ? 'cannot start (command not found); is prometheus installed (apt-get install prometheus)?' : `exited with code ${exitCode} before it was ready`;
    }
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  return `not ready within ${timeoutMs} ms`;
}

function handle(child: ChildProcess, url: string, exited: Promise<number | null>): PrometheusProcess {
  return {
    url,
    pid: child.pid!,
    exited,
    stop: async (graceMs = 5_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
