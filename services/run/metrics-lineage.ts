// metrics.jsonl is append-only: a resumed run does not rewrite what it wrote before. A run that
// stops (crash, kill -9, Ctrl-C without a checkpoint of its last iteration) and resumes from a
// checkpoint at T computes T+1, T+2, ... again, and writes their records again. The log marks
// each resume with a `resume` record at T; `lineage` reads the log as TensorBoard's purge_step
// does: at a resume to T, every earlier record positioned after T is dropped (it belongs to a
// branch the weights no longer descend from). What remains is the history of the final weights,
// one record per kind and position, positions ascending within a kind as written.
//
// A record's position is its `step` (classifier runs) or else its `iteration` (GAN runs, and the
// checkpoint, sample and error records of both kinds): the number of updates done when it was
// written. Records without a position (none today) are always kept.
import type { MetricsRecord } from './metrics-log.ts';

export const RESUME_KIND = 'resume';

/** The number of updates done when the record was written; undefined when it carries none. */
export function recordPosition(r: MetricsRecord): number | undefined {
  if (typeof r.step === 'number') return r.step;
  if (typeof r.iteration === 'number') return r.iteration;
  return undefined;
}

/** The records the final weights descend from: every resume to T drops earlier records past T. */
export function lineage(records: readonly MetricsRecord[]): MetricsRecord[] {
  let kept: MetricsRecord[] = [];
  for (const r of records) {
    if (r.kind === RESUME_KIND) {
      const at = recordPosition(r);
      if (at !== undefined) kept = kept.filter((k) => !((recordPosition(k) ?? -Infinity) > at));
    }
    kept.push(r);
  }
  return kept;
}
