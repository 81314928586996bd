// `gantry serve generator|discriminator|worker|scheduler`: one process of a distributed GAN or classifier run, configured
// by GANTRY_* environment variables and flags (flags win), for containers and the local launcher.
// Each process validates its config once (services/<role>/config.ts) and logs it at start-up.
import type { Command } from 'commander';
import type { Binding } from '../../control/process-config.ts';
import { ProcessConfigError } from '../../control/process-config.ts';
import { shutdownSignal } from '../../control/lifecycle.ts';
import { discriminatorBindings, resolveDiscriminatorConfig } from '../../discriminator/config.ts';
import { generatorBindings, resolveGeneratorConfig } from '../../generator/config.ts';
import { resolveSchedulerConfig, schedulerBindings } from '../../scheduler/config.ts';
import { resolveWorkerConfig, workerBindings } from '../../worker/config.ts';
import { createLogger, type Logger } from '../../telemetry/log.ts';
import { serviceEnvironment } from '../../env/mod.ts';
import { NoValidCheckpoint } from '../../run/checkpoint-list.ts';
import { UsageError } from '../errors.ts';

type Flags = Record<string, unknown>;
type RoleMain = (flags: Flags, log: Logger) => Promise<number>;

// A process that finished but still has a handle open (a socket in TIME_WAIT, a tfjs timer)
// must not linger: the launcher and container runtimes wait for the exit.
const EXIT_GRACE_MS = 2_000;

export function register(program: Command): void {
  const serve = program
    .command('serve')
    .description('run one process of a distributed run: generator, discriminator, worker or scheduler (configured by GANTRY_* variables and flags)');
  addRole(serve, 'generator', 'the generator service: G behind gRPC, G-steps and samples over NATS', generatorBindings, async (flags, log) => {
    const cfg = configOrUsage(() => resolveGeneratorConfig(serviceEnvironment(), flags));
    const { runGenerator } = await import('../../generator/main.ts'); // loaded only by the process that serves
    const stop = shutdownSignal(log, cfg.parentPid);
    try {
      await runGenerator(cfg, log, stop.signal);
    } finally {
      stop.dispose();
    }
    return 0;
  });
  addRole(serve, 'discriminator', 'the discriminator service: D and the data behind gRPC, D-steps over NATS', discriminatorBindings, async (flags, log) => {
    const cfg = configOrUsage(() => resolveDiscriminatorConfig(serviceEnvironment(), flags));
    const { runDiscriminator } = await import('../../discriminator/main.ts');
    const stop = shutdownSignal(log, cfg.parentPid);
    try {
      await runDiscriminator(cfg, log, stop.signal);
    } finally {
      stop.dispose();
    }
    return 0;
  });
  addRole(serve, 'worker', 'one classifier replica of a data-parallel group: registers in KV, steps over NATS, gradients over the ring', workerBindings, async (flags, log) => {
    const cfg = configOrUsage(() => resolveWorkerConfig(serviceEnvironment(), flags));
    const { runWorker } = await import('../../worker/main.ts');
    const stop = shutdownSignal(log, cfg.parentPid);
    try {
      await runWorker(cfg, log, stop.signal);
    } finally {
      stop.dispose();
    }
    return 0;
  });
  addRole(serve, 'scheduler', 'the scheduler: drives the run over NATS, keeps its state in JetStream KV', schedulerBindings, async (flags, log) => {
    const cfg = configOrUsage(() => resolveSchedulerConfig(serviceEnvironment(), flags));
    const { runScheduler, schedulerExitCode } = await import('../../scheduler/main.ts');
    const { ConfigError } = await import('../../train/config.ts');
    const stop = shutdownSignal(log, cfg.parentPid);
    try {
      return schedulerExitCode(await runScheduler(cfg, log, stop.signal));
    } catch (err) {
      // A resume with only damaged checkpoints, and a run whose state or checkpoints were made
      // with another training configuration, are refused like a bad configuration (exit 2): a
      // restart would refuse again, so the launcher and restart policies must not retry them.
      if (err instanceof NoValidCheckpoint || err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
      throw err;
    } finally {
      stop.dispose();
    }
  });
}

function addRole(parent: Command, role: string, description: string, bindings: readonly Binding[], main: RoleMain): void {
  const cmd = parent.command(role).description(description);
  for (const b of bindings) {
    if (!b.flag) continue;
    const env = b.env ? ` (env ${b.env})` : '';
    if (b.kind === 'bool') {
      cmd.option(`--${b.flag}`, `enable${env}`).option(`--no-${b.flag}`, 'disable');
    } else {
      cmd.option(`--${b.flag} <${b.kind === 'string' ? 'value' : 'n'}>`, `${b.key}${env}`);
    }
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    const flags: Flags = {};
    for (const b of bindings) {
      const value = b.flag ? opts[camel(b.flag)] : undefined;
      if (value !== undefined) flags[b.key] = value;
    }
    const log = createLogger({ component: role });
    const code = await main(flags, log);
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  });
}

function configOrUsage<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof ProcessConfigError) throw new UsageError(err.message);
    throw err;
  }
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
