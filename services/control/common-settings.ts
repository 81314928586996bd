// Settings every control-plane process shares (NATS, run, metrics, heartbeats), as zod fields and
// env/flag bindings that each process's config module spreads into its own. The run directory is
// not among them: the scheduler is its only reader and writer (scheduler/config.ts), so the model
// services need no shared or writable volume.
import { z } from 'zod';
import type { Binding } from './process-config.ts';
import { DEFAULT_PREFIX, prefixSchema, runIdSchema } from './subjects.ts';

const port = z.number().int().min(0).max(65535);
const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const commonFields = {
  natsUrl: z.string().regex(/^(nats|tls):\/\/[^\s]+$/, 'expected nats://host:port').default('nats://127.0.0.1:4222'),
  runId: runIdSchema,
  prefix: prefixSchema.default(DEFAULT_PREFIX),
  /** 0 picks a free port (logged at start-up). */
  metricsPort: port.default(0),
  metricsHost: z.string().min(1).default('127.0.0.1'),
  heartbeatMs: ms(50, 60_000).default(500),
  /** Set by the local launcher: the process exits when this pid is gone, so it never outlives it. */
  parentPid: z.number().int().positive().optional(),
};

export const commonBindings: readonly Binding[] = [
  { key: 'natsUrl', env: 'GANTRY_NATS_URL', flag: 'nats', kind: 'string' },
  { key: 'runId', env: 'GANTRY_RUN_ID', flag: 'run', kind: 'string' },
  { key: 'prefix', env: 'GANTRY_SUBJECT_PREFIX', flag: 'subject-prefix', kind: 'string' },
  { key: 'metricsPort', env: 'GANTRY_METRICS_PORT', flag: 'metrics-port', kind: 'int' },
  { key: 'metricsHost', env: 'GANTRY_METRICS_HOST', flag: 'metrics-host', kind: 'string' },
  { key: 'heartbeatMs', env: 'GANTRY_HEARTBEAT_MS', flag: 'heartbeat-ms', kind: 'int' },
  { key: 'parentPid', env: 'GANTRY_PARENT_PID', kind: 'int' },
];

/** The gRPC side of the generator and discriminator services. */
export const grpcFields = {
  grpcHost: z.string().min(1).default('127.0.0.1'),
  grpcPort: port,
  /** What heartbeats report as this service's gRPC address; default grpcHost:grpcPort. */
  advertiseAddr: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port').optional(),
  /** Deadline of each gRPC call to the peer. */
  rpcTimeoutMs: ms(100, 3_600_000).default(30_000),
};

export const grpcBindings: readonly Binding[] = [
  { key: 'grpcHost', env: 'GANTRY_GRPC_HOST', flag: 'grpc-host', kind: 'string' },
  { key: 'grpcPort', env: 'GANTRY_GRPC_PORT', flag: 'grpc-port', kind: 'int' },
  { key: 'advertiseAddr', env: 'GANTRY_ADVERTISE_ADDR', flag: 'advertise-addr', kind: 'string' },
  { key: 'rpcTimeoutMs', env: 'GANTRY_RPC_TIMEOUT_MS', flag: 'rpc-timeout-ms', kind: 'int' },
];

export const peerAddr = z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:50051');
