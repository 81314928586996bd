// The metrics of a process in a data-parallel replica group (a classifier worker, a discriminator
// replica), added to its own registry. The names are the contract of the workers dashboard and
// deploy/prometheus/workers.rules.yml; the rank is a default label of the whole page
// (createMetrics' rank option), the role says which kind of group:
//   gantry_collective_duration_seconds{op}   histogram, one observation per collective
//   gantry_collective_bytes_total{op}        bytes this rank sent in collectives
//   gantry_replicas                          replicas in the group this rank is in
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS } from './metrics.ts';

export const COLLECTIVE_OPS = ['allreduce', 'reduce_scatter', 'all_gather', 'broadcast'] as const;

export interface CollectiveMetrics {
  /** labels: op (COLLECTIVE_OPS). */
  readonly collectiveDuration: Histogram<'op'>;
  /** labels: op (COLLECTIVE_OPS). */
  readonly collectiveBytes: Counter<'op'>;
  readonly replicas: Gauge;
}

export function createCollectiveMetrics(registry: Registry): CollectiveMetrics {
  const registers = [registry];
  return {
    collectiveDuration: new Histogram({
      name: 'gantry_collective_duration_seconds', help: 'Wall time of one collective operation.',
      labelNames: ['op'], buckets: LATENCY_BUCKETS, registers,
    }),
    collectiveBytes: new Counter({
      name: 'gantry_collective_bytes_total', help: 'Bytes sent by this rank in collective operations.', labelNames: ['op'], registers,
    }),
    replicas: new Gauge({ name: 'gantry_replicas', help: 'Replicas in the current membership generation.', registers }),
  };
}
