// `gantry train gan|classifier`: flags -> validated config -> trainer.
//   gantry train gan [--in-process] [--preset P] [--loss L] [--iterations N] [--seed S] [--out DIR] ...
//   gantry train classifier [--preset workshop|quick] [--epochs N] ...
//   --resume RUN_DIR continues a run from its last complete checkpoint, as if never stopped.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { BACKEND_CHOICES, CLASSIFIER_PRESETS, GAN_LOSSES, GAN_PRESETS } from '../../core/catalog.ts';
import { createLogger } from '../../telemetry/log.ts';
import { addFlags, givenFlags, type FlagSpec } from '../flags.ts';
import { UsageError } from '../errors.ts';

const COMMON: FlagSpec[] = [
  { flag: 'seed', key: 'seed', kind: 'int', description: 'run seed: same seed and config give the same weights (default 1)' },
  { flag: 'batch-size', key: 'batchSize', kind: 'int', description: 'images per step (default 64)' },
  { flag: 'beta2', key: 'beta2', kind: 'number', description: 'Adam beta2 (default 0.999)' },
  { flag: 'lr-decay', key: 'lrDecay', kind: 'bool', description: "the workshop's decay lr * 0.75^(step/1100)" },
  { flag: 'checkpoint-every', key: 'checkpointEvery', kind: 'int', description: 'checkpoint every N iterations/steps (default 200)' },
  { flag: 'keep-checkpoints', key: 'keepCheckpoints', kind: 'int', description: 'complete checkpoints kept (default 3)' },
  { flag: 'out', key: 'out', kind: 'string', description: 'run directory (default runs/<kind>-<time>)' },
  { flag: 'data', key: 'data', kind: 'string', description: 'MNIST-format dir (IDX or TFRecord); default: the bundled MNIST' },
  { flag: 'backend', key: 'backend', kind: 'string', choices: BACKEND_CHOICES, description: 'math backend (default auto)' },
  { flag: 'restart-from-scratch', key: 'restartFromScratch', kind: 'bool', description: 'with --resume: when every checkpoint is damaged, train again from the initial weights instead of refusing' },
];

const GAN_FLAGS: FlagSpec[] = [
  { flag: 'preset', key: 'preset', kind: 'string', choices: GAN_PRESETS, description: 'architecture (default dcgan)' },
  { flag: 'loss', key: 'loss', kind: 'string', choices: GAN_LOSSES, description: 'GAN loss (default nonsaturating)' },
  { flag: 'iterations', key: 'iterations', kind: 'int', description: 'iterations of k D-steps + 1 G-step (default 600)' },
  { flag: 'd-steps', key: 'dSteps', kind: 'int', description: 'k: D-steps per G-step (default 1)' },
  { flag: 'lr-g', key: 'lrG', kind: 'number', description: 'generator learning rate (default 2e-4)' },
  { flag: 'lr-d', key: 'lrD', kind: 'number', description: 'discriminator learning rate (default 2e-4)' },
  { flag: 'beta1', key: 'beta1', kind: 'number', description: 'Adam beta1 (default 0.5)' },
  { flag: 'gp-lambda', key: 'gpLambda', kind: 'number', description: 'WGAN-GP penalty weight (default 10)' },
  { flag: 'g-ema', key: 'gEma', kind: 'number', description: "decay of the moving average of G's weights that samples and evaluations use, e.g. 0.999 (default 0: off)" },
  { flag: 'standing-stats', key: 'standingStats', kind: 'int', description: "samples and evaluations first re-estimate G's batch-norm statistics for the sampling weights over N batches (BigGAN's standing statistics; default 0: off)" },
  { flag: 'truncation', key: 'truncation', kind: 'number', description: "samples and evaluations draw z from N(0, 1) truncated to [-t, t] (BigGAN's truncation trick: fewer malformed images, less variety; training never truncates; default 0: off)" },
  { flag: 'z-dim', key: 'zDim', kind: 'int', description: 'latent size (preset default)' },
  { flag: 'z-mixture', key: 'zMixture', kind: 'int', description: 'latent prior: K >= 2 draws z from a mixture of K unit Gaussians with fixed means (training and sampling; default 0: N(0, I))' },
  { flag: 'z-spread', key: 'zSpread', kind: 'number', description: "standard deviation of those means per latent dimension, 0.1..10 (default 1)" },
  { flag: 'g-width', key: 'gWidth', kind: 'int', description: 'generator width (preset default)' },
  { flag: 'd-width', key: 'dWidth', kind: 'int', description: 'discriminator width (preset default)' },
  { flag: 'g-layers', key: 'gLayers', kind: 'int', description: 'conv layers of the generator: 2; 3 for a 5x5 conv at 7x7 before the deconvs; 4 for a 3x3 conv at 14x14 between them as well; 5 for two of those; 6 for a 3x3 conv at 28x28 after them that makes the image (default 2; dcgan, infogan)' },
  { flag: 'g-kernel', key: 'gKernel', kind: 'int', description: "kernel size of the generator's 7x7 conv with --g-layers 3: 5 (default) or 3" },
  { flag: 'd-layers', key: 'dLayers', kind: 'int', description: 'conv layers of the discriminator: 2; 3 for a 4x4 layer that sees the whole digit; 4 or 5 add 3x3 convs at 4x4 (default 2; dcgan, infogan)' },
  { flag: 'sample-every', key: 'sampleEvery', kind: 'int', description: 'write an 8x8 sample grid every N iterations (default 100)' },
  { flag: 'eval-every', key: 'evalEvery', kind: 'int', description: 'score samples with the classifier every N iterations (0: off)' },
  { flag: 'eval-samples', key: 'evalSamples', kind: 'int', description: 'samples per periodic evaluation (default 1000)' },
  { flag: 'classifier', key: 'classifier', kind: 'string', description: 'classifier run or checkpoint for evaluation' },
  { flag: 'discriminator-replicas', key: 'discriminatorReplicas', kind: 'int', description: 'distributed: the discriminator as N data-parallel processes, each on batch/N rows, gradients all-reduced (must divide --batch-size; default 1)' },
  { flag: 'micro-batches', key: 'microBatches', kind: 'int', description: "distributed: exact sums in the discriminator, per micro-batch of batch/M rows, added in order in float64: one discriminator and any --discriminator-replicas dividing M give the same bits" },
  ...COMMON,
];

const CLASSIFIER_FLAGS: FlagSpec[] = [
  { flag: 'preset', key: 'preset', kind: 'string', choices: CLASSIFIER_PRESETS, description: 'architecture (default workshop)' },
  { flag: 'epochs', key: 'epochs', kind: 'int', description: 'epochs over the training split (default 3)' },
  { flag: 'max-steps', key: 'maxSteps', kind: 'int', description: 'stop after N steps (0: no limit)' },
  { flag: 'lr', key: 'lr', kind: 'number', description: 'learning rate (default 1e-3)' },
  { flag: 'beta1', key: 'beta1', kind: 'number', description: 'Adam beta1 (default 0.9)' },
  { flag: 'width', key: 'width', kind: 'int', description: 'conv width (preset default)' },
  { flag: 'dense-units', key: 'denseUnits', kind: 'int', description: 'penultimate dense units (preset default)' },
  { flag: 'validation-size', key: 'validationSize', kind: 'int', description: 'training images held out for validation (default 5000)' },
  { flag: 'eval-every', key: 'evalEvery', kind: 'int', description: 'validate every N steps (default 200)' },
  { flag: 'patience', key: 'patience', kind: 'int', description: 'early stopping: validations without improvement (default 5)' },
  { flag: 'stop-below-val-loss', key: 'stopBelowValLoss', kind: 'number', description: "the workshop's absolute threshold on the validation loss" },
  { flag: 'workers', key: 'workers', kind: 'int', description: 'data-parallel: start nats-server, the scheduler and N worker processes (the global batch is split across them)' },
  { flag: 'min-workers', key: 'minWorkers', kind: 'int', description: 'data-parallel: keep training while at least A workers are alive (default 1)' },
  { flag: 'max-workers', key: 'maxWorkers', kind: 'int', description: 'data-parallel: at most B workers in the group; more wait as spares (default --workers)' },
  { flag: 'global-batch', key: 'batchSize', kind: 'int', description: 'images per step over all workers (the same as --batch-size)' },
  { flag: 'micro-batches', key: 'microBatches', kind: 'int', description: 'exact sums: every sum over the batch per micro-batch of batch/M rows, added in order in float64: one process and any N workers dividing M give the same bits (costs M/N passes per worker, M/2 x the gradient bytes on the ring)' },
  ...COMMON,
];

interface RunFlags { config?: string; resume?: string; inProcess?: boolean; nats?: string; prometheus?: boolean; prometheusPort?: number }

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new InvalidArgumentError(`expected a port 1..65535, got "${v}"`);
  return n;
}

/** --resume RUN_DIR: the run's own config.json is the base, flags may extend it (e.g. --iterations). */
async function resolveSources(cmd: Command, specs: FlagSpec[]): Promise<{ flags: Record<string, unknown>; file?: string }> {
  const o = cmd.opts<RunFlags>();
  const flags = givenFlags(cmd, specs);
  if (!o.resume) return { flags, file: o.config };
  if (o.config) throw new UsageError('--resume and --config cannot be combined: a resumed run keeps its config');
  const dir = path.resolve(o.resume);
  const base = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8').catch((err: unknown) => {
    throw new UsageError(`--resume ${o.resume}: cannot read ${path.join(dir, 'config.json')}`, { cause: err });
  })) as Record<string, unknown>;
  // restartFromScratch applies to this resume only, never to the next one from config.json.
  return { flags: { ...base, restartFromScratch: false, ...flags, out: dir, resume: true } };
}

export function register(program: Command): void {
  const train = program.command('train').description('train a GAN or the MNIST classifier');
  const gan = addFlags(
    train.command('gan').description('adversarial training: k D-steps then one G-step per iteration'),
    GAN_FLAGS,
  )
    .option('--in-process', 'both networks in this process (the reference trainer)')
    .option('--nats <url>', 'distributed: use this NATS server instead of starting one')
    .option('--prometheus', 'distributed: also start a local Prometheus (gantry rules loaded) scraping the run, and print its URL')
    .option('--prometheus-port <port>', 'its port (default: a free one)', parsePort)
    .option('--config <file>', 'JSON config file (flags override it)')
    .option('--resume <run-dir>', 'continue a run from its last complete checkpoint');
  gan.action(async () => {
    // Loaded here, not at the top: only a training run needs TensorFlow.js.
    const { ganTrainSchema, loadConfig } = await import('../../train/config.ts');
    const { trainGanInProcess } = await import('../../train/gan-trainer.ts');
    const { flags, file } = await resolveSources(gan, GAN_FLAGS);
    const cfg = await loadConfig(ganTrainSchema, flags, file);
    const log = createLogger({ component: 'train', format: process.stderr.isTTY ? 'pretty' : 'json' });
    const o = gan.opts<RunFlags>();
    if (o.inProcess) {
      if (o.nats) throw new UsageError('--nats is for distributed runs; drop --in-process or --nats');
      if (o.prometheus) throw new UsageError('--prometheus is for distributed runs (the in-process trainer serves no /metrics); drop --in-process or --prometheus');
      if ((cfg.discriminatorReplicas ?? 1) > 1) throw new UsageError('--discriminator-replicas is for distributed runs (it starts N discriminator processes); drop --in-process or --discriminator-replicas');
      if (cfg.microBatches !== undefined) throw new UsageError('--micro-batches is for distributed GAN runs (the discriminator service computes the exact sums); drop --in-process or --micro-batches');
      const r = await trainGanInProcess(cfg, log);
      process.stdout.write(`${r.status}: ${r.iterations} iterations; run directory ${r.runDir}\n`);
      return;
    }
    const { runLocalCluster } = await import('../../launcher/local-cluster.ts');
    if (!o.prometheus && o.prometheusPort !== undefined) throw new UsageError('--prometheus-port needs --prometheus');
    const prometheus = o.prometheus ? { port: o.prometheusPort } : undefined;
    const r = await runLocalCluster(cfg, {
      natsUrl: o.nats, log, prometheus,
      onEvent: (e) => { if (e.type === 'prometheus') process.stdout.write(`Prometheus: ${e.url}\n`); },
    });
    process.stdout.write(
      `${r.status}: ${r.iterations} iterations in ${r.seconds.toFixed(0)} s (generation ${r.generation}); ` +
        `run directory ${r.runDir}\n`,
    );
  });
  const classifier = addFlags(
    train.command('classifier').description('the workshop classifier on MNIST, with validation and test accuracy'),
    CLASSIFIER_FLAGS,
  )
    .option('--in-process', 'train in this process (the reference; the default without --workers)')
    .option('--nats <url>', 'data-parallel: use this NATS server instead of starting one')
    .option('--prometheus', 'data-parallel: also start a local Prometheus (gantry rules loaded) scraping the scheduler and the workers, and print its URL')
    .option('--prometheus-port <port>', 'its port (default: a free one)', parsePort)
    .option('--config <file>', 'JSON config file (flags override it)')
    .option('--resume <run-dir>', 'continue a run from its last complete checkpoint');
  classifier.action(async () => {
    const { classifierTrainSchema, loadConfig } = await import('../../train/config.ts');
    const { trainClassifier } = await import('../../train/classifier-trainer.ts');
    const { flags, file } = await resolveSources(classifier, CLASSIFIER_FLAGS);
    const cfg = await loadConfig(classifierTrainSchema, flags, file);
    const log = createLogger({ component: 'train', format: process.stderr.isTTY ? 'pretty' : 'json' });
    const o = classifier.opts<RunFlags>();
    if (classifier.getOptionValue('workers') !== undefined && !o.inProcess) {
      const { runLocalWorkers } = await import('../../launcher/local-workers.ts');
      const { readMetrics } = await import('../../run/metrics-log.ts');
      const { lineage } = await import('../../run/metrics-lineage.ts');
      if (!o.prometheus && o.prometheusPort !== undefined) throw new UsageError('--prometheus-port needs --prometheus');
      const w = await runLocalWorkers(cfg, {
        natsUrl: o.nats, log, prometheus: o.prometheus ? { port: o.prometheusPort } : undefined,
        onEvent: (e) => { if (e.type === 'prometheus') process.stdout.write(`Prometheus: ${e.url}\n`); },
      });
      const test = lineage(await readMetrics(path.join(w.runDir, 'metrics.jsonl'))).filter((m) => m.kind === 'test').pop() as { accuracy: number; loss: number } | undefined;
      const acc = test ? `test accuracy ${(100 * test.accuracy).toFixed(2)}% (loss ${test.loss.toFixed(4)}) after ` : '';
      process.stdout.write(`${w.status}: ${acc}${w.steps} steps in ${w.seconds.toFixed(0)} s (generation ${w.generation}); run directory ${w.runDir}\n`);
      return;
    }
    if (o.nats) throw new UsageError('--nats is for data-parallel runs: add --workers N');
    if (o.prometheus || o.prometheusPort !== undefined) throw new UsageError('--prometheus is for data-parallel runs (the in-process trainer serves no /metrics): add --workers N');
    const r = await trainClassifier(cfg, log);
    process.stdout.write(
      `test accuracy ${(100 * r.testAccuracy).toFixed(2)}% (loss ${r.testLoss.toFixed(4)}) after ${r.steps} steps; ` +
        `run directory ${r.runDir}\n`,
    );
  });
}
