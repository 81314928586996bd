// Classifier-based sample scores, all in float64 from log-probabilities.
// MNIST score (the Inception Score formula with an MNIST classifier, Salimans et al. 2016):
//   exp( E_x KL(p(y|x) || p(y)) ),  p(y) = E_x p(y|x)
// It lies in [1, C]: 1 when every sample gets the same prediction, C (10) when predictions are
// confident and the classes balanced. log p(y) = logsumexp_x log p(y|x) - log N keeps the
// marginal accurate where single probabilities underflow.
import { EvalInputError } from './errors.ts';

/** Per-row log-softmax of logits (N x C row-major), in float64 with the max subtracted. */
export function logSoftmax(logits: Float32Array | Float64Array, classes: number): Float64Array {
  const n = rowsOf(logits, classes, 'logits');
  const out = new Float64Array(n * classes);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]);
    if (!Number.isFinite(max)) throw new EvalInputError(`logits: row ${r} has a non-finite maximum (${max})`);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c] - max);
    const lse = max + Math.log(sum);
    for (let c = 0; c < classes; c++) out[o + c] = logits[o + c] - lse;
  }
  return out;
}

/** log of a probability matrix (N x C), checking that every row is a distribution. */
export function logProbabilities(probs: Float32Array | Float64Array, classes: number): Float64Array {
  const n = rowsOf(probs, classes, 'probabilities');
  const out = new Float64Array(n * classes);
  for (let r = 0; r < n; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const p = probs[r * classes + c];
      if (!(p >= 0 && p <= 1)) throw new EvalInputError(`probabilities: row ${r} class ${c} is ${p}, expected a value in [0, 1]`);
      sum += p;
      out[r * classes + c] = Math.log(p);
    }
    if (Math.abs(sum - 1) > 1e-4) throw new EvalInputError(`probabilities: row ${r} sums to ${sum}, expected 1`);
  }
  return out;
}

function rowsOf(x: ArrayLike<number>, classes: number, what: string): number {
  if (!Number.isInteger(classes) || classes < 1) throw new EvalInputError(`${what}: classes must be a positive integer, found ${classes}`);
  if (x.length === 0 || x.length % classes !== 0) {
    throw new EvalInputError(`${what}: expected N x ${classes} values with N >= 1, found ${x.length}`);
  }
  return x.length / classes;
}

function logSumExp(values: Float64Array): number {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** exp(E_x KL(p(y|x) || p(y))) from log p(y|x) (N x C). Terms with p(y|x) = 0 contribute 0. */
export function mnistScore(logP: Float64Array, classes: number): number {
  const n = rowsOf(logP, classes, 'log-probabilities');
  const logMarginal = new Float64Array(classes);
  const column = new Float64Array(n);
  for (let c = 0; c < classes; c++) {
    for (let r = 0; r < n; r++) column[r] = logP[r * classes + c];
    logMarginal[c] = logSumExp(column) - Math.log(n);
  }
  let klSum = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < classes; c++) {
      const lp = logP[r * classes + c];
      if (lp === -Infinity) continue;
      klSum += Math.exp(lp) * (lp - logMarginal[c]);
    }
  }
  // KL >= 0 in exact arithmetic; round-off may leave -1e-17 for identical rows.
  return Math.exp(Math.max(klSum / n, 0));
}

/** Counts of argmax predictions per class (ties go to the lowest class index). */
export function classHistogram(logP: Float64Array, classes: number): number[] {
  const n = rowsOf(logP, classes, 'log-probabilities');
  const counts = new Array<number>(classes).fill(0);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logP[r * classes + c] > logP[r * classes + best]) best = c;
    counts[best]++;
  }
  return counts;
}

/** Classes predicted for at least `fraction` (default 5%) of the samples: a mode-collapse signal. */
export function classesCovered(histogram: readonly number[], fraction = 0.05): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  return histogram.filter((count) => count >= fraction * total).length;
}

/** KL(h || uniform) in nats for the normalized histogram h: 0 when balanced, log C when collapsed to one class. */
export function klFromUniform(histogram: readonly number[]): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) throw new EvalInputError('class histogram: expected at least one sample, found 0');
  const classes = histogram.length;
  let kl = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const h = count / total;
    kl += h * Math.log(h * classes);
  }
  return Math.max(kl, 0);
}

export interface ClassScores {
  mnistScore: number;
  histogram: number[];
  classesCovered: number;
  klUniform: number;
}

/** Every classifier-output score of one sample set, from log p(y|x) (N x C). */
export function classScores(logP: Float64Array, classes: number): ClassScores {
  const histogram = classHistogram(logP, classes);
  return {
    mnistScore: mnistScore(logP, classes),
    histogram,
    classesCovered: classesCovered(histogram),
    klUniform: klFromUniform(histogram),
  };
}
