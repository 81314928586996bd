// The report's charts as plain data: which metrics.jsonl records and fields go into which chart.
// The page's script turns each spec into a Chart.js line chart; keeping the choice here means it
// is tested in Node, and the browser side stays generic.
import type { MetricsRecord } from '../run/metrics-log.ts';
import { thin } from './collect.ts';

export interface Series {
  label: string;
  /** [x, y] pairs, x ascending; non-finite values (written as null) are left out. */
  points: [number, number][];
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

/** Points per series: enough for a 1000-pixel-wide chart, small enough for a long run's page. */
export const MAX_POINTS = 1500;

function series(records: MetricsRecord[], kind: string, xKey: string, yKey: string, label: string): Series {
  const points: [number, number][] = [];
  for (const r of records) {
    if (r.kind !== kind) continue;
    const x = r[xKey];
    const y = r[yKey];
    if (typeof x === 'number' && typeof y === 'number' && Number.isFinite(x) && Number.isFinite(y)) points.push([x, y]);
  }
  return { label, points: thin(points, MAX_POINTS) };
}

function chart(id: string, title: string, xLabel: string, yLabel: string, all: Series[]): ChartSpec | undefined {
  const kept = all.filter((s) => s.points.length > 0);
  return kept.length > 0 ? { id, title, xLabel, yLabel, series: kept } : undefined;
}

export function ganCharts(m: MetricsRecord[]): ChartSpec[] {
  const it = 'iteration';
  return [
    chart('losses', 'Losses', it, 'loss', [
      series(m, 'train', it, 'lossD', 'lossD (discriminator)'),
      series(m, 'train', it, 'lossG', 'lossG (generator)'),
      series(m, 'train', it, 'gp', 'gradient penalty'),
    ]),
    chart('d-outputs', 'Discriminator output, mean over the batch', it, 'D(x)', [
      series(m, 'train', it, 'dReal', 'dReal (on real images)'),
      series(m, 'train', it, 'dFake', 'dFake (on generated images)'),
    ]),
    chart('mnist-score', 'MNIST score (10 is best)', it, 'score', [series(m, 'eval', it, 'mnistScore', 'MNIST score')]),
    chart('frechet', 'Fréchet distance to the test images (lower is better)', it, 'distance', [
      series(m, 'eval', it, 'fdFeatures', 'classifier features'),
      series(m, 'eval', it, 'fdLogits', 'classifier logits'),
    ]),
    chart('coverage', 'Classes holding >= 5% of the samples', it, 'classes', [series(m, 'eval', it, 'classesCovered', 'classes covered')]),
    chart('speed', 'Training speed', it, 'iterations / s', [series(m, 'train', it, 'itPerSec', 'iterations per second')]),
  ].filter((c): c is ChartSpec => c !== undefined);
}

export function classifierCharts(m: MetricsRecord[]): ChartSpec[] {
  return [
    chart('loss', 'Loss: training vs validation', 'step', 'cross-entropy', [
      series(m, 'train', 'step', 'loss', 'training'),
      series(m, 'validation', 'step', 'loss', 'validation'),
    ]),
    chart('accuracy', 'Accuracy: training vs validation', 'step', 'accuracy', [
      series(m, 'train', 'step', 'accuracy', 'training'),
      series(m, 'validation', 'step', 'accuracy', 'validation'),
    ]),
    chart('lr', 'Learning rate', 'step', 'lr', [series(m, 'train', 'step', 'lr', 'learning rate')]),
  ].filter((c): c is ChartSpec => c !== undefined);
}

/** The last record of a kind, e.g. the test accuracy or the latest evaluation. */
export function lastOfKind(m: MetricsRecord[], kind: string): MetricsRecord | undefined {
  for (let i = m.length - 1; i >= 0; i--) if (m[i].kind === kind) return m[i];
  return undefined;
}
