// What the GAN math needs to know, independent of where it runs (one process or services).
import type { GanArch } from '../presets.ts';
import type { GanLossName } from '../losses.ts';
import type { AdamHyper } from '../optim.ts';
import { WORKSHOP_DECAY } from '../optim.ts';
import { deriveSeed } from '../../data/seed.ts';

export interface GanMathConfig {
  arch: GanArch;
  loss: GanLossName;
  /** Images per D-step and per G-step. */
  batchSize: number;
  /** k: discriminator steps per generator step (Goodfellow et al. 2014, Algorithm 1). */
  dSteps: number;
  seed: number;
  lrG: number;
  lrD: number;
  beta1: number;
  beta2: number;
  /** The workshop's exponential decay lr * 0.75^(step/1100), per optimizer. */
  lrDecay: boolean;
  /** WGAN-GP's lambda; used only by the wgan-gp loss. */
  gpLambda: number;
  /** Decay of the generator weights' moving average, which samples and evaluations use; 0: none. */
  gEma: number;
  /** Batches of standing statistics for sampling (standing-stats.ts); 0: G's moving averages. Absent in older configs. */
  standingStats?: number;
  /** Truncation threshold of the sampling latents (latents.ts); 0 or absent: N(0, 1). */
  truncation?: number;
  /** Exact sums in the discriminator (core/parallel/micro-batches.ts): D's sums per micro-batch of
   *  batchSize / microBatches rows, added in order in float64, so one discriminator and any number
   *  of replicas dividing it give the same bits. Absent: one pass, float32 sums. */
  microBatches?: number;
}

export function adamHyper(cfg: GanMathConfig, lr: number, emaDecay = 0): AdamHyper {
  return {
    lr,
    emaDecay,
    beta1: cfg.beta1,
    beta2: cfg.beta2,
    epsilon: 1e-8,
    decayRate: cfg.lrDecay ? WORKSHOP_DECAY.decayRate : 0,
    decaySteps: WORKSHOP_DECAY.decaySteps,
  };
}

/** Init seeds: G and D draw from separate streams of the run seed. */
export const generatorInitSeed = (cfg: GanMathConfig): number => deriveSeed(cfg.seed, 'init', 1);
export const discriminatorInitSeed = (cfg: GanMathConfig): number => deriveSeed(cfg.seed, 'init', 2);
