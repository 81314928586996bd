// The gantry.v1 package loaded at run time with proto-loader. The static types in ./generated/
// are produced from the same files with the same options by scripts/gen-proto.sh; change both
// together (test/unit/wire-generated.test.ts fails when the committed types are stale).
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { ringFrameCodec, type RingFrameCodec } from './ring-codec.ts';

/** proto/ at the repository root: import paths are "gantry/v1/<file>.proto". */
export const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
export const PROTO_FILES = ['gantry/v1/generator.proto', 'gantry/v1/discriminator.proto', 'gantry/v1/collective.proto', 'gantry/v1/worker.proto'] as const;

/**
 * keepCase false: fields are camelCase in JS (run_id -> runId). longs Number: int64/uint64 are JS
 * numbers (shapes and iterations stay far below 2^53). enums String: DType is 'FLOAT32' etc.
 * defaults true: absent fields read as their zero value. oneofs true: proto3 `optional` fields
 * also say which is set.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export const GENERATOR_SERVICE = 'gantry.v1.GeneratorService';
export const DISCRIMINATOR_SERVICE = 'gantry.v1.DiscriminatorService';
export const COLLECTIVE_SERVICE = 'gantry.v1.CollectiveService';
export const WORKER_SERVICE = 'gantry.v1.WorkerService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export const packageDefinition: protoLoader.PackageDefinition = protoLoader.loadSync([...PROTO_FILES], LOADER_OPTIONS);

// The ring all-reduce's chunk frames get a hand-written codec (same protobuf bytes on the wire,
// payload aligned and read without a copy; ring-codec.ts). Every client and server of the Ring
// method takes its (de)serializers from here.
{
  const ring = (packageDefinition[COLLECTIVE_SERVICE] as protoLoader.ServiceDefinition).Ring;
  const codec = ringFrameCodec({ serialize: ring.requestSerialize, deserialize: ring.requestDeserialize } as RingFrameCodec);
  ring.requestSerialize = codec.serialize as protoLoader.MethodDefinition<object, object>['requestSerialize'];
  ring.requestDeserialize = codec.deserialize as protoLoader.MethodDefinition<object, object>['requestDeserialize'];
}

/** The health proto, for reflection and for health clients (same options as grpc-health-check). */
export const healthPackageDefinition: protoLoader.PackageDefinition = protoLoader.loadSync(healthProtoPath, {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
});

export function serviceDefinition(name: string): protoLoader.ServiceDefinition {
  const def = packageDefinition[name] ?? healthPackageDefinition[name];
  if (!def || 'format' in def || !Object.values(def).every((m) => typeof m === 'object' && m && 'path' in m)) {
    throw new Error(`proto: ${name} is not a service of ${PROTO_FILES.join(', ')} or the health proto`);
  }
  return def as protoLoader.ServiceDefinition;
}

