// The training configuration: one typed, strict schema per job kind. Every source (defaults, a
// --config JSON file, CLI flags) is merged and validated here once; unknown keys are fatal and
// errors name the key and the bound. The resolved config is printed at start-up and written to
// the run directory.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { GAN_PRESETS, CLASSIFIER_PRESETS, ganArch } from '../core/presets.ts';
import { GAN_LOSSES } from '../core/losses.ts';
import type { GanMathConfig } from '../core/gan/config.ts';
import { clipText } from '../telemetry/clip.ts';
import { BACKEND_CHOICES, isTruncation, TRUNCATION_EXPECTED, type BackendChoice } from '../core/catalog.ts';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const rate = z.number().gt(0).max(1);
const seed = int(0, 2 ** 32 - 1);

const common = {
  seed: seed.default(1),
  batchSize: int(1, 4096).default(64),
  beta2: z.number().gt(0).lt(1).default(0.999),
  lrDecay: z.boolean().default(false),
  checkpointEvery: int(1, 1e9).default(200),
  keepCheckpoints: int(1, 1000).default(3),
  out: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  resume: z.boolean().default(false),
  /** With resume: when every checkpoint of the run is damaged, train again from the initial
   *  weights instead of refusing (NoValidCheckpoint). Never carried over to a later resume. */
  restartFromScratch: z.boolean().default(false),
  /** Data-parallel replicas (classifier; discriminator with --discriminator-replicas) normalise
   *  batch norm with the group's statistics (absent or true: N replicas at global batch B train as
   *  one process at batch B) or with each replica's own slice (false: cheaper, NOT equivalent).
   *  Optional rather than defaulted so configs and resume keys written before it are unchanged. */
  syncBatchNorm: z.boolean().optional(),
};

export const ganTrainSchema = z.strictObject({
  ...common,
  preset: z.enum(GAN_PRESETS).default('dcgan'),
  loss: z.enum(GAN_LOSSES).default('nonsaturating'),
  iterations: int(1, 1e9).default(600),
  dSteps: int(1, 100).default(1),
  lrG: rate.default(2e-4),
  lrD: rate.default(2e-4),
  beta1: z.number().min(0).lt(1).default(0.5),
  gpLambda: z.number().min(0).max(1e4).default(10),
  /** Decay of the generator weights' moving average (samples and evaluations use it); 0: off. */
  gEma: z.number().min(0).lt(1).default(0),
  /** Batches over which samples and evaluations re-estimate G's batch-norm statistics for the
   *  sampling weights (BigGAN's standing statistics); 0: G's moving averages as trained. */
  standingStats: int(0, 10000).default(0),
  /** Samples and evaluations draw z from N(0, 1) truncated to [-t, t] (BigGAN's truncation
   *  trick: fewer rare, malformed images, less variety); 0: untruncated. Training never truncates. */
  truncation: z.number().refine(isTruncation, { message: `expected ${TRUNCATION_EXPECTED}` }).default(0),
  zDim: int(1, 1024).optional(),
  /** The latent prior: 0, N(0, I); K >= 2, a mixture of K unit Gaussians with fixed means drawn
   *  from N(0, zSpread^2 I) (core/latents.ts), in training and sampling alike. */
  zMixture: int(0, 1024).refine((k) => k !== 1, { message: 'expected 0 (z ~ N(0, I)) or 2..1024 mixture components' }).optional(),
  zSpread: z.number().min(0.1).max(10).optional(),
  gWidth: int(1, 1024).optional(),
  dWidth: int(1, 1024).optional(),
  /** Conv layers of the convolutional discriminator (2; 3 for one that sees the whole digit; 4-5 add stride-1 convs at 4x4). */
  dLayers: int(2, 5).optional(),
  /** Conv layers of the convolutional generator (2; 3 for a 5x5 conv at 7x7 before the deconvs;
   *  4 and 5 add one or two 3x3 convs at 14x14 between them; 6 a 3x3 conv at 28x28 that makes the
   *  image from w/2 maps of the last deconv). */
  gLayers: int(2, 6).optional(),
  /** Kernel size of that 7x7 conv (5, or 3 for a third of the cost; needs gLayers 3 or more). */
  gKernel: z.union([z.literal(3), z.literal(5)]).optional(),
  sampleEvery: int(1, 1e9).default(100),
  evalEvery: int(0, 1e9).default(0),
  evalSamples: int(100, 100000).default(1000),
  classifier: z.string().min(1).optional(),
  /** The discriminator as N data-parallel replicas (`--discriminator-replicas N`; distributed runs
   *  only): each takes batchSize / N rows of the real and the fake batch. Optional rather than
   *  defaulted so configs and hashes written before it are unchanged; absent means 1. */
  discriminatorReplicas: int(1, 64).optional(),
  /** Exact sums in the discriminator (`--micro-batches M`; distributed runs only): one discriminator
   *  and any number of replicas dividing M give the same bits (GanMathConfig.microBatches). */
  microBatches: int(1, 4096).optional(),
}).superRefine((c, ctx) => {
  const n = c.discriminatorReplicas ?? 1;
  if (c.batchSize % n !== 0) {
    ctx.addIssue({
      code: 'custom', path: ['discriminatorReplicas'],
      message: `--discriminator-replicas ${n} must divide --batch-size ${c.batchSize} (each replica takes batch / N rows of the real and the fake batch)`,
    });
  }
  const m = c.microBatches;
  if (m === undefined) return;
  const problem = c.batchSize % m !== 0 ? `must divide --batch-size ${c.batchSize}`
    : m % n !== 0 ? `must be a multiple of --discriminator-replicas ${n}`
      : c.loss === 'wgan-gp' ? 'does not take the gradient penalty of --loss wgan-gp'
        : c.syncBatchNorm === false ? 'needs syncBatchNorm (exact sums pool the batch-norm moments)' : undefined;
  if (problem) ctx.addIssue({ code: 'custom', path: ['microBatches'], message: `--micro-batches ${m} ${problem}` });
}).refine((c) => (c.discriminatorReplicas ?? 1) === 1 || c.loss !== 'wgan-gp' || c.preset === 'mlp', {
  path: ['discriminatorReplicas'],
  message: "wgan-gp's gradient penalty is a second-order gradient through the discriminator's batch-norm statistics, which replicas cannot take: --discriminator-replicas must be 1 with --loss wgan-gp, unless --preset mlp (no batch norm)",
}).refine((c) => c.preset !== 'mlp' || c.dLayers === undefined || c.dLayers === 2, {
  path: ['dLayers'], message: 'dLayers above 2 needs a convolutional preset (dcgan, infogan): mlp has no conv layers',
}).refine((c) => c.preset !== 'mlp' || c.gLayers === undefined || c.gLayers === 2, {
  path: ['gLayers'], message: 'gLayers above 2 needs a convolutional preset (dcgan, infogan): mlp has no conv layers',
}).refine((c) => c.gKernel === undefined || c.gKernel === 5 || (c.gLayers ?? 2) >= 3, {
  path: ['gKernel'], message: 'gKernel sizes the third generator conv layer: it needs gLayers 3 or more',
});
export type GanTrainConfig = z.infer<typeof ganTrainSchema>;

export const classifierTrainSchema = z.strictObject({
  ...common,
  preset: z.enum(CLASSIFIER_PRESETS).default('workshop'),
  epochs: int(1, 1000).default(3),
  maxSteps: int(0, 1e9).default(0),
  lr: rate.default(1e-3),
  beta1: z.number().min(0).lt(1).default(0.9),
  width: int(1, 1024).optional(),
  denseUnits: int(1, 8192).optional(),
  validationSize: int(100, 30000).default(5000),
  evalEvery: int(1, 1e9).default(200),
  patience: int(1, 1000).default(5),
  /** The workshop's absolute threshold: stop once the validation loss falls below it. */
  stopBelowValLoss: z.number().gt(0).optional(),
  /** Data-parallel workers the local launcher starts (`--workers`); the in-process trainer ignores it. */
  workers: int(1, 1024).default(1),
  /** The group trains while at least minWorkers are alive (default 1) and takes at most maxWorkers (default workers). */
  minWorkers: int(1, 1024).optional(),
  maxWorkers: int(1, 1024).optional(),
  /** Exact sums (core/parallel/micro-batches.ts): every sum over the batch is taken per micro-batch
   *  of batchSize / microBatches rows and the micro-batches are added in order in float64, so one
   *  process and any number of workers dividing microBatches give the same bits. Absent: one pass
   *  per process, float32 sums (N workers match one process to float32 round-off, amplified by Adam). */
  microBatches: int(1, 4096).optional(),
}).refine((c) => c.microBatches === undefined || c.batchSize % c.microBatches === 0, {
  path: ['microBatches'], message: 'must divide batchSize (each micro-batch is batchSize / microBatches rows)',
}).refine((c) => c.microBatches === undefined || c.syncBatchNorm !== false, {
  path: ['microBatches'], message: 'needs syncBatchNorm (exact sums pool the batch-norm moments over the whole batch)',
});
export type ClassifierTrainConfig = z.infer<typeof classifierTrainSchema>;

/** What the size of a classifier's worker group must divide: the micro-batches with exact sums, else the batch. */
export function groupDivisor(cfg: Pick<ClassifierTrainConfig, 'batchSize' | 'microBatches'>): number {
  return cfg.microBatches ?? cfg.batchSize;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function describe(issues: z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const key = i.path.map((k) => clipText(String(k))).join('.') || '(root)';
      // Keys come from a file or a message: echo at most a few, each clipped.
      if (i.code === 'unrecognized_keys') {
        const more = i.keys.length > 5 ? ` and ${i.keys.length - 5} more` : '';
        return `unknown key(s) ${i.keys.slice(0, 5).map((k) => JSON.stringify(clipText(k))).join(', ')}${more}`;
      }
      return `${key}: ${i.message}`;
    })
    .join('; ');
}

export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new ConfigError(`invalid configuration (${source}): ${describe(r.error.issues)}`);
  return r.data;
}

/** Defaults < --config file < flags. `flags` holds only flags the user actually gave. */
export async function loadConfig<S extends z.ZodType>(
  schema: S,
  flags: Record<string, unknown>,
  configFile?: string,
): Promise<z.infer<S>> {
  let fromFile: Record<string, unknown> = {};
  if (configFile) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configFile}`, { cause: err });
    }
    // null, an array or a number would spread into nothing or into keys "0", "1", ...
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ConfigError(`config file ${configFile}: expected a JSON object, found ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`);
    }
    fromFile = raw as Record<string, unknown>;
  }
  const merged = { ...fromFile, ...flags };
  return parseConfig(schema, merged, configFile ? `${configFile} + flags` : 'flags');
}

export function toGanMathConfig(cfg: GanTrainConfig): GanMathConfig {
  return {
    arch: ganArch(cfg.preset, { zDim: cfg.zDim, gWidth: cfg.gWidth, dWidth: cfg.dWidth, dLayers: cfg.dLayers, gLayers: cfg.gLayers, gKernel: cfg.gKernel, zMixture: cfg.zMixture, zSpread: cfg.zSpread }),
    loss: cfg.loss,
    batchSize: cfg.batchSize,
    dSteps: cfg.dSteps,
    seed: cfg.seed,
    lrG: cfg.lrG,
    lrD: cfg.lrD,
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    lrDecay: cfg.lrDecay,
    gpLambda: cfg.gpLambda,
    gEma: cfg.gEma,
    standingStats: cfg.standingStats,
    truncation: cfg.truncation,
    ...(cfg.microBatches === undefined ? {} : { microBatches: cfg.microBatches }),
  };
}

/** The settings that must not change when a run is resumed. */
export function resumeKey(cfg: GanTrainConfig | ClassifierTrainConfig): string {
  const { out: _o, resume: _r, backend: _b, restartFromScratch: _s, ...rest } = cfg as Record<string, unknown>;
  delete rest.iterations;
  delete rest.standingStats; // how samples are drawn, not what is trained
  delete rest.truncation;
  delete rest.epochs;
  delete rest.maxSteps;
  delete rest.workers; // how many replicas compute a step, not what it computes
  delete rest.minWorkers;
  delete rest.maxWorkers;
  delete rest.discriminatorReplicas;
  return JSON.stringify(rest, Object.keys(rest).sort());
}
