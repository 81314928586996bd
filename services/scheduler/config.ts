// The scheduler's configuration, read once from GANTRY_* variables and `gantry serve scheduler`
// flags. The training config (a GanTrainConfig JSON file) is separate: --train-config, or the run
// directory's config.json when the scheduler is restarted on an existing run. The scheduler is
// the run directory's only writer; it reaches the services' weights over gRPC at their addresses.
import path from 'node:path';
import { z } from 'zod';
import { commonBindings, commonFields, peerAddr, peerAddrList, tlsClientBindings, tlsClientFields } from '../control/common-settings.ts';
import { type Binding, resolveProcessConfig } from '../control/process-config.ts';

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const schedulerConfigSchema = z.strictObject({
  ...commonFields,
  ...tlsClientFields,
  /** Absolute after resolution; KV's checkpoint paths are relative to it. */
  runDir: z.string().min(1).transform((p) => path.resolve(p)),
  /** gRPC host:port of the generator and the discriminator: checkpoints stream their snapshots
   *  out (StreamWeights), restores stream them back in (LoadWeights). */
  generatorAddr: peerAddr.default('127.0.0.1:50051'),
  discriminatorAddr: peerAddr.default('127.0.0.1:50052'),
  /** Every discriminator replica's address in rank order, when the run's discriminatorReplicas
   *  is above 1: restores stream the checkpoint into each rank (checkpoints pull rank 0's). */
  discriminatorAddrs: peerAddrList.optional(),
  trainConfig: z.string().min(1).optional(),
  /** What the run trains: a GAN (generator + discriminator services) or the classifier on a group of workers. */
  kind: z.enum(['gan', 'classifier']).default('gan'),
  /** Deadline of one step command; must exceed the slowest step (dcgan on the cpu backend: ~1 min). */
  commandTimeoutMs: ms(100, 3_600_000).default(120_000),
  /** A role whose latest heartbeat is older than this is presumed dead. Heartbeats pause while a
   *  service computes a step, so this must exceed the longest step. */
  livenessMs: ms(100, 600_000).default(5_000),
  /** Deadline and liveness window of one 'eval' command: drawing and classifying evalSamples images
   *  is synchronous on the generator (its heartbeats pause), the distances then take ~10 s on a
   *  worker thread with a 1024-feature classifier; the first one also loads the classifier and may
   *  compute its reference statistics (a synchronous minute or more). */
  evalTimeoutMs: ms(100, 3_600_000).default(600_000),
  /** How long to wait for a dead role's replacement before the run fails. */
  recoveryTimeoutMs: ms(100, 3_600_000).default(300_000),
  /** Re-sends of a timed-out command to a service that still heartbeats (commands are idempotent). */
  retries: z.number().int().min(0).max(100).default(2),
  /** Recoveries in a row without completing an iteration before the run fails. */
  maxRecoveries: z.number().int().min(1).max(1000).default(10),
  /** Draw a progress bar (TTY) or log progress lines; the local launcher turns it off and draws its own. */
  progress: z.boolean().default(true),
});
export type SchedulerConfig = z.infer<typeof schedulerConfigSchema>;

export const schedulerBindings: readonly Binding[] = [
  ...commonBindings,
  ...tlsClientBindings,
  { key: 'runDir', env: 'GANTRY_RUN_DIR', flag: 'run-dir', kind: 'string' },
  { key: 'generatorAddr', env: 'GANTRY_GENERATOR_ADDR', flag: 'generator-addr', kind: 'string' },
  { key: 'discriminatorAddr', env: 'GANTRY_DISCRIMINATOR_ADDR', flag: 'discriminator-addr', kind: 'string' },
  { key: 'discriminatorAddrs', env: 'GANTRY_DISCRIMINATOR_ADDRS', flag: 'discriminator-addrs', kind: 'string' },
  { key: 'trainConfig', env: 'GANTRY_TRAIN_CONFIG', flag: 'train-config', kind: 'string' },
  { key: 'kind', env: 'GANTRY_RUN_KIND', flag: 'kind', kind: 'string' },
  { key: 'commandTimeoutMs', env: 'GANTRY_COMMAND_TIMEOUT_MS', flag: 'command-timeout-ms', kind: 'int' },
  { key: 'livenessMs', env: 'GANTRY_LIVENESS_MS', flag: 'liveness-ms', kind: 'int' },
  { key: 'evalTimeoutMs', env: 'GANTRY_EVAL_TIMEOUT_MS', flag: 'eval-timeout-ms', kind: 'int' },
  { key: 'recoveryTimeoutMs', env: 'GANTRY_RECOVERY_TIMEOUT_MS', flag: 'recovery-timeout-ms', kind: 'int' },
  { key: 'retries', env: 'GANTRY_COMMAND_RETRIES', flag: 'retries', kind: 'int' },
  { key: 'maxRecoveries', env: 'GANTRY_MAX_RECOVERIES', flag: 'max-recoveries', kind: 'int' },
  { key: 'progress', env: 'GANTRY_PROGRESS', flag: 'progress', kind: 'bool' },
];

export function resolveSchedulerConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): SchedulerConfig {
  return resolveProcessConfig(schedulerConfigSchema, schedulerBindings, env, flags);
}
