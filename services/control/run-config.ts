// The training config as it travels on the control plane: the scheduler sends the run's
// GanTrainConfig in every `restore`, with a hash that identifies the run. The hash covers only
// the settings a resumed run must keep (train/config.ts resumeKey: not iterations, out, backend,
// resume), so a run can be extended or moved without looking like another run.
import { createHash } from 'node:crypto';
import { ServiceError } from './errors.ts';
import { type ClassifierTrainConfig, type GanTrainConfig, ganTrainSchema, parseConfig, resumeKey } from '../train/config.ts';

/** Validates a received config; a bad one is a 'bad-request' naming the config. */
export function parseTrainConfig(raw: unknown, source: string): GanTrainConfig {
  try {
    return parseConfig(ganTrainSchema, raw, source);
  } catch (err) {
    throw new ServiceError('bad-request', (err as Error).message, { field: 'config' }, { cause: err });
  }
}

/** sha256 (hex) of the config's resume key. */
export function configHash(cfg: GanTrainConfig | ClassifierTrainConfig): string {
  return createHash('sha256').update(resumeKey(cfg)).digest('hex');
}
