// The discriminator service's configuration, read once from GANTRY_* variables and `gantry serve
// discriminator` flags. The generator's address comes from config (GANTRY_GENERATOR_ADDR).
// A replica of a discriminator group (--discriminator-replicas N) also gets its rank and every
// rank's address in rank order (GANTRY_DISCRIMINATOR_RANK, GANTRY_DISCRIMINATOR_ADDRS): the ring
// of its collectives, and rank 0's fan-out of the G-step's batch.
import { z } from 'zod';
import { BACKEND_CHOICES, type BackendChoice } from '../core/catalog.ts';
import { commonBindings, commonFields, grpcBindings, grpcFields, peerAddr, peerAddrList } from '../control/common-settings.ts';
import { type Binding, resolveProcessConfig } from '../control/process-config.ts';

const iteration = z.number().int().nonnegative();

export const discriminatorConfigSchema = z.strictObject({
  ...commonFields,
  ...grpcFields,
  grpcPort: grpcFields.grpcPort.default(50052),
  generatorAddr: peerAddr,
  /** This replica's rank in the group (0 without a group; required in a group of 2 or more: a
   *  rank left unset, e.g. a Kubernetes pod-index label that is missing, must not make every
   *  pod rank 0). */
  rank: z.number().int().min(0).max(63).optional(),
  /** Every rank's gRPC host:port in rank order; unset: no group (one discriminator). */
  replicaAddrs: peerAddrList.optional(),
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  /** Overrides the training config's `data` (the dataset is mounted at another path here). */
  dataDir: z.string().min(1).optional(),
  /** TEST ONLY: the real batch of iteration N's first D-step is multiplied by NaN. */
  testInjectNanAt: iteration.optional(),
  /** TEST ONLY: the process exits (code 75) after writing its checkpoint files for iteration N, before replying. */
  testExitInCheckpointAt: iteration.optional(),
}).refine((c) => c.rank !== undefined || (c.replicaAddrs?.length ?? 1) === 1, {
  path: ['rank'], message: 'required (GANTRY_DISCRIMINATOR_RANK) when GANTRY_DISCRIMINATOR_ADDRS names 2 or more ranks',
}).refine((c) => (c.rank ?? 0) < (c.replicaAddrs?.length ?? 1), {
  path: ['rank'], message: 'expected a rank below the number of GANTRY_DISCRIMINATOR_ADDRS (0 without them)',
});
export type DiscriminatorConfig = z.infer<typeof discriminatorConfigSchema>;

export const discriminatorBindings: readonly Binding[] = [
  ...commonBindings,
  ...grpcBindings,
  { key: 'generatorAddr', env: 'GANTRY_GENERATOR_ADDR', flag: 'generator-addr', kind: 'string' },
  { key: 'rank', env: 'GANTRY_DISCRIMINATOR_RANK', flag: 'rank', kind: 'int' },
  { key: 'replicaAddrs', env: 'GANTRY_DISCRIMINATOR_ADDRS', flag: 'replica-addrs', kind: 'string' },
  { key: 'backend', env: 'GANTRY_BACKEND', flag: 'backend', kind: 'string' },
  { key: 'dataDir', env: 'GANTRY_DATA_DIR', flag: 'data', kind: 'string' },
  { key: 'testInjectNanAt', env: 'GANTRY_TEST_INJECT_NAN_AT', kind: 'int' },
  { key: 'testExitInCheckpointAt', env: 'GANTRY_TEST_EXIT_IN_CHECKPOINT_AT', kind: 'int' },
];

export function resolveDiscriminatorConfig(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): DiscriminatorConfig {
  return resolveProcessConfig(discriminatorConfigSchema, discriminatorBindings, env, flags);
}
