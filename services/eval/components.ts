// What each component of a generator's mixture prior (core/latents.ts) makes: n samples of it,
// classified. With one component per digit the interesting questions are whether the generator
// gave each component one digit (the majority's share), whether the ten majorities are the ten
// digits, and how sure the classifier is about each (the mean entropy of p(y|x), in nats; real
// test digits ~0.03).
import { tf } from '../core/tf.ts';
import { INFER, type ClassifierModel, type Model } from '../core/model.ts';
import { componentLatents, latentPriorOf } from '../core/latents.ts';
import { deriveSeed } from '../data/seed.ts';
import { classHistogram, logSoftmax } from './scores.ts';

export interface ComponentScore {
  component: number;
  samples: number;
  /** Counts of the classifier's argmax per digit. */
  histogram: number[];
  /** The digit most of the component's samples are classified as, and their share (0..1). */
  digit: number;
  share: number;
  /** Mean entropy of the classifier's prediction over the component's samples, in nats. */
  meanEntropy: number;
}

/** One row per mixture component (none for an N(0, I) prior); batch b of component c from deriveSeed(seed, 'eval', c, b). */
export function scoreComponents(generator: Model, classifier: ClassifierModel, perComponent: number, seed: number, truncation = 0, batchSize = 250): ComponentScore[] {
  const prior = latentPriorOf(generator);
  const k = prior.zMixture ?? 0;
  if (k < 2) return [];
  if (!Number.isInteger(perComponent) || perComponent < 1) throw new RangeError(`samples per component: expected a positive integer, found ${perComponent}`);
  return Array.from({ length: k }, (_, component) => {
    let classes = 0;
    let logits = new Float32Array(0);
    for (let b = 0, start = 0; start < perComponent; b++, start += batchSize) {
      const n = Math.min(batchSize, perComponent - start);
      const out = tf.tidy(() => {
        const images = generator.apply(componentLatents(n, prior, component, deriveSeed(seed, 'eval', component, b), truncation), INFER);
        return classifier.embed(images, INFER).logits;
      });
      if (classes === 0) {
        classes = out.shape[1];
        logits = new Float32Array(perComponent * classes);
      }
      logits.set(out.dataSync() as Float32Array, start * classes);
      out.dispose();
    }
    const logP = logSoftmax(logits, classes);
    const histogram = classHistogram(logP, classes);
    const digit = histogram.indexOf(Math.max(...histogram));
    let entropy = 0;
    for (let i = 0; i < logP.length; i++) entropy -= Math.exp(logP[i]) * logP[i];
    return { component, samples: perComponent, histogram, digit, share: histogram[digit] / perComponent, meanEntropy: entropy / perComponent };
  });
}

/** The human-readable table: one line per component. */
export function formatComponents(rows: readonly ComponentScore[]): string {
  if (rows.length === 0) return '';
  const distinct = new Set(rows.map((r) => r.digit)).size;
  const lines = rows.map((r) => {
    const runnersUp = r.histogram.map((n, d) => [d, n] as const).filter(([d, n]) => d !== r.digit && n > 0)
      .sort((a, b) => b[1] - a[1]).slice(0, 2).map(([d, n]) => `${d} ${(100 * n / r.samples).toFixed(0)} %`).join(', ');
    return `  component ${String(r.component).padStart(2)}: digit ${r.digit} ${(100 * r.share).toFixed(0).padStart(3)} %` +
      `${runnersUp ? ` (then ${runnersUp})` : ''}, mean entropy ${r.meanEntropy.toFixed(3)}\n`;
  });
  return `mixture components (${rows[0].samples} samples each; ${distinct} distinct majority digits of ${rows.length}):\n${lines.join('')}`;
}
