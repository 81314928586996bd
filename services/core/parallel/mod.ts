// Data-parallel replica steps in the math core: what a worker needs, nothing about transports.
export type { GroupSum, ReplicaGroup } from './group.ts';
export { localReplicaGroups, type LocalGroupOptions } from './local-group.ts';
export { replicaClassifierGrads, replicaClassifierStep, type ReplicaClassifierGrads, type ReplicaClassifierResult } from './classifier-step.ts';
export { CollectiveMismatchError, ReplicaConfigError, ReplicaUnsupportedError } from './errors.ts';
export { replicaDiscriminatorStep, replicaGeneratorGrad, type ReplicaDiscriminator, type ReplicaDStepMetrics, type ReplicaGenGrad } from './discriminator-step.ts';
