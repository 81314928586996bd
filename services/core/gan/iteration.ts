// One iteration of the adversarial game with both networks in one process: the in-process
// trainer's loop body (services/train/gan-trainer.ts) and the preset steps the benchmarks time
// (services/core/backend/preset-steps.ts). The services run the same node methods, one process each.
import { tf } from '../tf.ts';
import type { GeneratorNode } from './generator-node.ts';
import type { DiscriminatorNode } from './discriminator-node.ts';

export interface IterationMetrics {
  iteration: number;
  lossD: number;
  lossG: number;
  dReal: number;
  dFake: number;
  gp?: number;
}

/** One iteration t of Algorithm 1 (Goodfellow et al. 2014): k D-steps, then one G-step. */
export function ganIteration(g: GeneratorNode, d: DiscriminatorNode, t: number): IterationMetrics {
  const k = g.cfg.dSteps;
  let last = { lossD: 0, dReal: 0, dFake: 0, gp: undefined as number | undefined };
  // (1) Update D, k times: maximise log D(x) + log(1 - D(G(z))) (or the chosen loss's objective).
  for (let s = 0; s < k; s++) {
    const fake = g.generate(t, s); // (B, 28, 28, 1), z from (seed, t, s)
    const real = d.realBatch(t, s); // (B, 28, 28, 1), global batch t*k + s
    try {
      const m = d.trainStep(t, s, real, fake);
      last = { lossD: m.lossD, dReal: m.dReal, dFake: m.dFake, gp: m.gp };
    } finally {
      tf.dispose([fake, real]);
    }
  }
  // (2) Update G: L_G back-propagated through D (held fixed, no update) and G on one tape. The
  // services exchange the same gradient as dL_G/dG(z') (generate, generatorGrad, applyUpstream);
  // here G(z') is computed once.
  const lossG = g.applyObjective(t, (fake) => d.generatorLoss(fake), 'generator loss').value;
  return { iteration: t, lossG, ...last };
}
