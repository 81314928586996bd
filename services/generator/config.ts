// The generator service's configuration, read once from GANTRY_* variables and `gantry serve
// generator` flags. The peer's address comes from config (GANTRY_DISCRIMINATOR_ADDR), never from
// heartbeats: compose and Kubernetes give services stable names, and the local launcher fixes
// every port before it starts the children.
import { z } from 'zod';
import { BACKEND_CHOICES, type BackendChoice } from '../core/catalog.ts';
import { commonBindings, commonFields, grpcBindings, grpcFields, peerAddr } from '../control/common-settings.ts';
import { type Binding, resolveProcessConfig } from '../control/process-config.ts';

export const generatorConfigSchema = z.strictObject({
  ...commonFields,
  ...grpcFields,
  grpcPort: grpcFields.grpcPort.default(50051),
  discriminatorAddr: peerAddr,
  backend: z.enum(BACKEND_CHOICES).default('auto'),
});
export type GeneratorConfig = z.infer<typeof generatorConfigSchema>;

export const generatorBindings: readonly Binding[] = [
  ...commonBindings,
  ...grpcBindings,
  { key: 'discriminatorAddr', env: 'GANTRY_DISCRIMINATOR_ADDR', flag: 'discriminator-addr', kind: 'string' },
  { key: 'backend', env: 'GANTRY_BACKEND', flag: 'backend', kind: 'string' },
];

export function resolveGeneratorConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): GeneratorConfig {
  return resolveProcessConfig(generatorConfigSchema, generatorBindings, env, flags);
}
