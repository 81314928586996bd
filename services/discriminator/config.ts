// The discriminator service's configuration, read once from GANTRY_* variables and `gantry serve
// discriminator` flags. The generator's address comes from config (GANTRY_GENERATOR_ADDR).
import { z } from 'zod';
import { BACKEND_CHOICES, type BackendChoice } from '../core/catalog.ts';
import { commonBindings, commonFields, grpcBindings, grpcFields, peerAddr } from '../control/common-settings.ts';
import { type Binding, resolveProcessConfig } from '../control/process-config.ts';

const iteration = z.number().int().nonnegative();

export const discriminatorConfigSchema = z.strictObject({
  ...commonFields,
  ...grpcFields,
  grpcPort: grpcFields.grpcPort.default(50052),
  generatorAddr: peerAddr,
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  /** Overrides the training config's `data` (the dataset is mounted at another path here). */
  dataDir: z.string().min(1).optional(),
  /** TEST ONLY: the real batch of iteration N's first D-step is multiplied by NaN. */
  testInjectNanAt: iteration.optional(),
  /** TEST ONLY: the process exits (code 75) after writing its checkpoint files for iteration N, before replying. */
  testExitInCheckpointAt: iteration.optional(),
});
export type DiscriminatorConfig = z.infer<typeof discriminatorConfigSchema>;

export const discriminatorBindings: readonly Binding[] = [
  ...commonBindings,
  ...grpcBindings,
  { key: 'generatorAddr', env: 'GANTRY_GENERATOR_ADDR', flag: 'generator-addr', kind: 'string' },
  { key: 'backend', env: 'GANTRY_BACKEND', flag: 'backend', kind: 'string' },
  { key: 'dataDir', env: 'GANTRY_DATA_DIR', flag: 'data', kind: 'string' },
  { key: 'testInjectNanAt', env: 'GANTRY_TEST_INJECT_NAN_AT', kind: 'int' },
  { key: 'testExitInCheckpointAt', env: 'GANTRY_TEST_EXIT_IN_CHECKPOINT_AT', kind: 'int' },
];

export function resolveDiscriminatorConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): DiscriminatorConfig {
  return resolveProcessConfig(discriminatorConfigSchema, discriminatorBindings, env, flags);
}
