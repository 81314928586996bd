// Settings every control-plane process shares (NATS and its credentials, run, metrics, heartbeats),
// as zod fields and env/flag bindings that each process's config module spreads into its own.
// Secrets are files (a NATS password, an nkey seed, TLS keys), never values: a Kubernetes Secret
// mounts them, and the config a process logs at start-up holds only paths. The run directory is
// not among them: the scheduler is its only reader and writer (scheduler/config.ts), so the model
// services need no shared or writable volume.
import path from 'node:path';
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
  // NATS credentials and TLS (services/control/nats-auth.ts): user + password file, or an nkey seed file.
  natsUser: z.string().min(1).optional(),
  natsPasswordFile: z.string().min(1).optional(),
  natsNkeyFile: z.string().min(1).optional(),
  natsTlsCa: z.string().min(1).optional(),
  natsTlsCert: z.string().min(1).optional(),
  natsTlsKey: z.string().min(1).optional(),
};

export const commonBindings: readonly Binding[] = [
  { key: 'natsUrl', env: 'GANTRY_NATS_URL', flag: 'nats', kind: 'string' },
  { key: 'runId', env: 'GANTRY_RUN_ID', flag: 'run', kind: 'string' },
  { key: 'prefix', env: 'GANTRY_SUBJECT_PREFIX', flag: 'subject-prefix', kind: 'string' },
  { key: 'metricsPort', env: 'GANTRY_METRICS_PORT', flag: 'metrics-port', kind: 'int' },
  { key: 'metricsHost', env: 'GANTRY_METRICS_HOST', flag: 'metrics-host', kind: 'string' },
  { key: 'heartbeatMs', env: 'GANTRY_HEARTBEAT_MS', flag: 'heartbeat-ms', kind: 'int' },
  { key: 'parentPid', env: 'GANTRY_PARENT_PID', kind: 'int' },
  { key: 'natsUser', env: 'GANTRY_NATS_USER', flag: 'nats-user', kind: 'string' },
  { key: 'natsPasswordFile', env: 'GANTRY_NATS_PASSWORD_FILE', flag: 'nats-password-file', kind: 'string' },
  { key: 'natsNkeyFile', env: 'GANTRY_NATS_NKEY_FILE', flag: 'nats-nkey-file', kind: 'string' },
  { key: 'natsTlsCa', env: 'GANTRY_NATS_TLS_CA', flag: 'nats-tls-ca', kind: 'string' },
  { key: 'natsTlsCert', env: 'GANTRY_NATS_TLS_CERT', flag: 'nats-tls-cert', kind: 'string' },
  { key: 'natsTlsKey', env: 'GANTRY_NATS_TLS_KEY', flag: 'nats-tls-key', kind: 'string' },
];

/** The gRPC side of the generator and discriminator services. */
/** Data-plane TLS (services/wire/tls.ts): all three files or none. A gRPC client (the scheduler
 *  pulling snapshots) needs these; a server also has mtls, which demands client certificates and
 *  checks each caller's role (services/wire/peer-auth.ts). */
export const tlsClientFields = {
  tlsCa: z.string().min(1).optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
};

export const tlsClientBindings: readonly Binding[] = [
  { key: 'tlsCa', env: 'GANTRY_TLS_CA', flag: 'tls-ca', kind: 'string' },
  { key: 'tlsCert', env: 'GANTRY_TLS_CERT', flag: 'tls-cert', kind: 'string' },
  { key: 'tlsKey', env: 'GANTRY_TLS_KEY', flag: 'tls-key', kind: 'string' },
];

export const grpcFields = {
  grpcHost: z.string().min(1).default('127.0.0.1'),
  grpcPort: port,
  /** What heartbeats report as this service's gRPC address; default grpcHost:grpcPort. */
  advertiseAddr: z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port').optional(),
  /** Deadline of each gRPC call to the peer. */
  rpcTimeoutMs: ms(100, 3_600_000).default(30_000),
  ...tlsClientFields,
  mtls: z.boolean().default(false),
  /** Serve plaintext gRPC on a non-loopback grpcHost (refused otherwise: security/listeners.ts). */
  insecure: z.boolean().default(false),
};

export const grpcBindings: readonly Binding[] = [
  { key: 'grpcHost', env: 'GANTRY_GRPC_HOST', flag: 'grpc-host', kind: 'string' },
  { key: 'grpcPort', env: 'GANTRY_GRPC_PORT', flag: 'grpc-port', kind: 'int' },
  { key: 'advertiseAddr', env: 'GANTRY_ADVERTISE_ADDR', flag: 'advertise-addr', kind: 'string' },
  { key: 'rpcTimeoutMs', env: 'GANTRY_RPC_TIMEOUT_MS', flag: 'rpc-timeout-ms', kind: 'int' },
  ...tlsClientBindings,
  { key: 'mtls', env: 'GANTRY_MTLS', flag: 'mtls', kind: 'bool' },
  { key: 'insecure', env: 'GANTRY_INSECURE', flag: 'insecure', kind: 'bool' },
];

export const peerAddr = z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:50051');

/** The gRPC addresses of a replica group's ranks in rank order, as one comma-separated text
 *  ("h0:p0,h1:p1"; GANTRY_DISCRIMINATOR_ADDRS). */
export const peerAddrList = z.string().transform((text) => text.split(',').map((a) => a.trim())).pipe(z.array(peerAddr).min(1).max(64));
