// What the two local launchers (local-cluster.ts: a GAN run; local-workers.ts: a data-parallel
// classifier run) share beyond their children: their options, how an interrupt reaches them, and
// the run's optional local Prometheus.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../telemetry/log.ts';
import { localPrometheusConfig, type PrometheusProcess, startPrometheus } from './prometheus.ts';

export interface LauncherOptions {
  /** An existing NATS server; without it one is started on a free loopback port. */
  natsUrl?: string;
  log: Logger;
  /** Default: the run directory's name. */
  runId?: string;
  /** Where the children's prefixed log lines go; default process.stderr. */
  output?: NodeJS.WritableStream;
  /** Draw the progress bar (or progress log lines off a terminal); default true. */
  progress?: boolean;
  /** Install SIGINT/SIGTERM handlers; default true. */
  handleSignals?: boolean;
  /** Stops the run like a Ctrl-C (tests, embedding). */
  signal?: AbortSignal;
  /** Also start a local Prometheus scraping the run (rules loaded); it stops with the run. */
  prometheus?: RunPrometheusOptions;
  /** Where the run's file_sd target file goes; default TARGETS_DIR. */
  targetsDir?: string;
  /** Picks `count` distinct free loopback ports; default ports.ts freePorts (tests hand out taken ones). */
  pickPorts?: (count: number) => Promise<number[]>;
}

export interface RunPrometheusOptions {
  port?: number;
  /** Scrape and rule interval; default "5s". */
  interval?: string;
}

/**
 * Calls onInterrupt with 1, 2, ... at each SIGINT/SIGTERM (unless handleSignals is false) and
 * when `signal` aborts; returns the function that removes the handlers.
 */
export function onInterrupts(opts: Pick<LauncherOptions, 'handleSignals' | 'signal'>, onInterrupt: (count: number) => void): () => void {
  if (opts.handleSignals === false && !opts.signal) return () => undefined;
  let count = 0;
  const handler = (): void => onInterrupt(++count);
  if (opts.handleSignals !== false) {
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  }
  opts.signal?.addEventListener('abort', handler, { once: true });
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    opts.signal?.removeEventListener('abort', handler);
  };
}

/**
 * A local Prometheus for one run: its config and data in the launcher's directory (RUN_DIR/.cluster),
 * scraping the targets file. Its early exit is a warning, never the run's failure.
 */
export async function startRunPrometheus(
  clusterDir: string, targetsFile: string, o: RunPrometheusOptions, run: { id: string; log: Logger; stopping: () => boolean },
): Promise<PrometheusProcess> {
  const configFile = path.join(clusterDir, 'prometheus.yml');
  await fsp.writeFile(configFile, localPrometheusConfig(targetsFile, o.interval ?? '5s'));
  const prometheus = await startPrometheus({ configFile, dataDir: path.join(clusterDir, 'prometheus'), port: o.port });
  run.log.info(`Prometheus: ${prometheus.url} (scraping run ${run.id}; it stops when the run ends)`, { url: prometheus.url });
  void prometheus.exited.then((code) => {
    if (!run.stopping()) run.log.warn(`prometheus exited (code ${code}); the run goes on unmonitored`);
  });
  return prometheus;
}
