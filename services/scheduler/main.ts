// The scheduler process (`gantry serve scheduler`): resolves the training config, serves
// /metrics, connects to NATS and runs one Scheduler until the run ends. Exit codes say how it
// ended, for the launcher and for container restart policies.
import { loadGrpcTls, type GrpcTls } from '../wire/tls.ts';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { closeNats, connectNats } from '../control/connection.ts';
import { loadNatsAuth, type NatsAuth } from '../control/nats-auth.ts';
import { readLatestSample } from '../run/latest-sample.ts';
import { runDirPaths } from '../run/run-dir.ts';
import type { Logger } from '../telemetry/log.ts';
import { startMetricsServer } from '../telemetry/metrics-server.ts';
import { createSchedulerMetrics } from '../telemetry/scheduler-metrics.ts';
import { classifierTrainSchema, ConfigError, type GanTrainConfig, ganTrainSchema, loadConfig } from '../train/config.ts';
import { ClassifierScheduler } from './classifier-scheduler.ts';
import type { SchedulerConfig } from './config.ts';
import { Scheduler, type SchedulerOutcome } from './scheduler.ts';

/** The newest sample grid, next to /metrics (the GAN dashboard shows it). */
export const LATEST_SAMPLE_ROUTE = '/samples/latest.png';

/** completed/stopped 0, failed 1, superseded by another scheduler 3, interrupted while recovering 4. */
export const SCHEDULER_EXIT = { ok: 0, failed: 1, superseded: 3, interrupted: 4 } as const;

export function schedulerExitCode(outcome: SchedulerOutcome): number {
  switch (outcome.status) {
    case 'completed':
    case 'stopped':
      return SCHEDULER_EXIT.ok;
    case 'failed':
      return SCHEDULER_EXIT.failed;
    case 'superseded':
      return SCHEDULER_EXIT.superseded;
    default:
      return SCHEDULER_EXIT.interrupted;
  }
}

/** --train-config, else the run directory's config.json (a scheduler restarted on its run). */
export async function loadTrainConfig(cfg: SchedulerConfig): Promise<GanTrainConfig> {
  const file = cfg.trainConfig ?? path.join(cfg.runDir, 'config.json');
  if (!cfg.trainConfig && !existsSync(file)) {
    throw new ConfigError(`trainConfig (GANTRY_TRAIN_CONFIG or --train-config): not given, and ${file} does not exist`);
  }
  return loadConfig(ganTrainSchema, {}, file);
}

export async function runScheduler(cfg: SchedulerConfig, log: Logger, signal: AbortSignal): Promise<SchedulerOutcome> {
  log.info('config', { config: cfg });
  const natsAuth = await loadNatsAuth(cfg);
  const tls = await loadGrpcTls(cfg);
  if (cfg.kind === 'classifier') return runClassifierScheduler(cfg, log, signal, natsAuth, tls);
  const train = await loadTrainConfig(cfg);
  log.info('training config', { config: train });
  const metrics = createSchedulerMetrics();
  const samples = runDirPaths(cfg.runDir, 'gan').samples;
  const metricsServer = await startMetricsServer(metrics.registry, cfg.metricsPort, cfg.metricsHost, {
    [LATEST_SAMPLE_ROUTE]: async () => {
      const body = await readLatestSample(samples);
      return body && { contentType: 'image/png', body };
    },
  });
  log.info('metrics', { port: metricsServer.port });
  const nc = await connectNats(cfg.natsUrl, { name: 'gantry-scheduler', log, auth: natsAuth });
  try {
    return await new Scheduler(nc, cfg, train, log, metrics, tls).run(signal);
  } finally {
    await closeNats(nc);
    await metricsServer.close();
  }
}

/** The data-parallel classifier's scheduler (kind 'classifier'): a ClassifierTrainConfig, a group of workers. */
async function runClassifierScheduler(cfg: SchedulerConfig, log: Logger, signal: AbortSignal, natsAuth: NatsAuth, tls: GrpcTls | undefined): Promise<SchedulerOutcome> {
  const file = cfg.trainConfig ?? path.join(cfg.runDir, 'config.json');
  if (!cfg.trainConfig && !existsSync(file)) {
    throw new ConfigError(`trainConfig (GANTRY_TRAIN_CONFIG or --train-config): not given, and ${file} does not exist`);
  }
  const train = await loadConfig(classifierTrainSchema, {}, file);
  log.info('training config', { config: train });
  const metrics = createSchedulerMetrics();
  const metricsServer = await startMetricsServer(metrics.registry, cfg.metricsPort, cfg.metricsHost);
  log.info('metrics', { port: metricsServer.port });
  const nc = await connectNats(cfg.natsUrl, { name: 'gantry-scheduler', log, auth: natsAuth });
  try {
    return await new ClassifierScheduler(nc, cfg, train, log, metrics, tls).run(signal);
  } finally {
    await closeNats(nc);
    await metricsServer.close();
  }
}
