// A data-parallel worker's metrics, on top of createMetrics('worker', { rank }) (rank is a
// default label on every series). These names and labels are the contract the workers
// dashboard and deploy/prometheus/workers.rules.yml are written against:
//   gantry_collective_duration_seconds{op, rank}   histogram, one observation per collective
//   gantry_collective_bytes_total{op, rank}        bytes this rank sent in collectives
//   gantry_replicas{role="worker"}                  replicas in the generation this rank is in
//   gantry_generation                               that generation
//   gantry_membership_changes_total{kind}           join | leave, as this rank saw them
//   gantry_stalls_total{rank}                       steps this rank waited past its stall bound
//   gantry_worker_images_total{rank}                training images this rank computed on
import { Counter, Gauge } from 'prom-client';
import { createMetrics, type Metrics } from './metrics.ts';
import { type CollectiveMetrics, createCollectiveMetrics } from './collective-metrics.ts';

export { COLLECTIVE_OPS } from './collective-metrics.ts';
export const MEMBERSHIP_CHANGES = ['join', 'leave'] as const;

export interface WorkerMetrics extends Metrics, CollectiveMetrics {
  readonly generation: Gauge;
  /** labels: kind (MEMBERSHIP_CHANGES). */
  readonly membershipChanges: Counter<'kind'>;
  readonly stalls: Counter;
  readonly images: Counter;
}

/** `rank` is this process's rank in its current generation; a worker that is not yet in one passes
 *  none, and setRank() relabels the whole page when a generation gives it one. */
export function createWorkerMetrics(rank?: number): WorkerMetrics {
  const base = createMetrics('worker', rank === undefined ? {} : { rank });
  const registers = [base.registry];
  const m: WorkerMetrics = {
    ...base,
    ...createCollectiveMetrics(base.registry),
    generation: new Gauge({ name: 'gantry_generation', help: 'Membership generation this replica is in.', registers }),
    membershipChanges: new Counter({
      name: 'gantry_membership_changes_total', help: 'Replicas that joined or left, as this rank saw them.', labelNames: ['kind'], registers,
    }),
    stalls: new Counter({ name: 'gantry_stalls_total', help: 'Steps this rank waited past its stall bound.', registers }),
    images: new Counter({ name: 'gantry_worker_images_total', help: 'Training images this rank computed on.', registers }),
  };
  // Every kind is on the page from the start at 0: a group whose membership never changes still
  // has the series, and increase() over it is 0, not "no data".
  for (const kind of MEMBERSHIP_CHANGES) m.membershipChanges.inc({ kind }, 0);
  return m;
}

/** Relabels every series of a worker's page with the rank its current generation gave it. */
export function setRank(m: Pick<WorkerMetrics, 'registry'>, rank: number): void {
  m.registry.setDefaultLabels({ role: 'worker', rank: String(rank) });
}
