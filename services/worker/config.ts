// The worker's configuration (`gantry serve worker`), read once from GANTRY_* variables and flags.
// A worker needs no peer addresses: the scheduler hands every generation its members' addresses.
import { z } from 'zod';
import { BACKEND_CHOICES } from '../core/catalog.ts';
import { commonBindings, commonFields, grpcBindings, grpcFields } from '../control/common-settings.ts';
import { type Binding, resolveProcessConfig } from '../control/process-config.ts';

export const workerConfigSchema = z.strictObject({
  ...commonFields,
  ...grpcFields,
  grpcPort: grpcFields.grpcPort.default(50053),
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  /** Overrides the training config's `data` (the dataset is mounted at another path here). */
  dataDir: z.string().min(1).optional(),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export const workerBindings: readonly Binding[] = [
  ...commonBindings,
  ...grpcBindings,
  { key: 'backend', env: 'GANTRY_BACKEND', flag: 'backend', kind: 'string' },
  { key: 'dataDir', env: 'GANTRY_DATA_DIR', flag: 'data', kind: 'string' },
];

export function resolveWorkerConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): WorkerConfig {
  return resolveProcessConfig(workerConfigSchema, workerBindings, env, flags);
}
