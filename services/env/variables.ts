// Every environment variable gantry's services read: its meaning, how its text is parsed, its
// bounds or choices, its default, and which processes read it. The names are the deployment
// contract (compose files and Kubernetes manifests set them; a test can check both against
// KNOWN_ENV_VARS); services/control/README.md's table documents the same variables for users.
//
// source 'config': resolved together with its flag by the serving process's config module
//   (services/<role>/config.ts through services/control/process-config.ts; flags win). The zod
//   schema there holds the bounds; `kind` says how the text is parsed.
// source 'module': read through this package's accessors (mod.ts) by the module in `readIn`.
//
// A leaf module (no imports): every layer, the math core included, may import it.

export type EnvReader = 'generator' | 'discriminator' | 'scheduler' | 'worker' | 'cli';
export type EnvKind = 'string' | 'integer' | 'boolean' | 'choice' | 'presence';

export interface EnvVarSpec {
  readonly meaning: string;
  /** string: as is; integer: parseInteger (integer.ts); boolean: 1/true/yes/on or 0/false/no/off;
   *  choice: one of `choices`; presence: on when set to any non-empty text. */
  readonly kind: EnvKind;
  readonly source: 'config' | 'module';
  /** The module that reads it, for source 'module'. */
  readonly readIn?: string;
  /** As documented; 'required' where the process cannot start without it. */
  readonly default: string;
  /** Inclusive bounds of an integer read by a module (a config variable's are in its schema). */
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  readonly readBy: readonly EnvReader[];
  /** Set by the local launcher for its children, never by hand. */
  readonly setByLauncher?: true;
  /** A test hook: never set it in a deployment. */
  readonly testOnly?: true;
}

const SERVICES: readonly EnvReader[] = ['generator', 'discriminator', 'scheduler', 'worker'];
const EVERYONE: readonly EnvReader[] = [...SERVICES, 'cli'];
/** Processes with a gRPC server of their own (the model services and the workers). */
const PEERS: readonly EnvReader[] = ['generator', 'discriminator', 'worker'];
/** Processes that run models: the two model services and the in-process commands (train, eval, sample). */
const COMPUTE: readonly EnvReader[] = ['generator', 'discriminator', 'worker', 'cli'];

export const ENV_VARS = {
  // -- every control-plane process (services/control/common-settings.ts) -------------------
  GANTRY_NATS_URL: {
    meaning: 'NATS server of the control plane (nats:// or tls://); also the default of --nats of gantry status and gantry run',
    kind: 'string', source: 'config', default: 'nats://127.0.0.1:4222', readBy: EVERYONE,
  },
  GANTRY_RUN_ID: { meaning: 'the run: 1-64 of A-Z a-z 0-9 _ -', kind: 'string', source: 'config', default: 'required', readBy: SERVICES },
  GANTRY_RUN_DIR: {
    meaning: 'the run directory (the scheduler is its only reader and writer; the model services mount none)', kind: 'string', source: 'config', default: 'required', readBy: ['scheduler'],
  },
  GANTRY_SUBJECT_PREFIX: { meaning: 'first token of every NATS subject of the run', kind: 'string', source: 'config', default: 'gantry', readBy: SERVICES },
  GANTRY_METRICS_PORT: { meaning: 'port of /metrics; 0 picks a free one (logged)', kind: 'integer', source: 'config', default: '0', readBy: SERVICES },
  GANTRY_METRICS_HOST: { meaning: 'address /metrics binds', kind: 'string', source: 'config', default: '127.0.0.1', readBy: SERVICES },
  GANTRY_HEARTBEAT_MS: { meaning: 'interval of heartbeats, ms', kind: 'integer', source: 'config', default: '500', readBy: SERVICES },
  GANTRY_PARENT_PID: {
    meaning: 'the launcher: the process exits when that pid is gone', kind: 'integer', source: 'config', default: 'unset',
    readBy: SERVICES, setByLauncher: true,
  },
  GANTRY_NATS_USER: {
    meaning: 'NATS user name (with GANTRY_NATS_PASSWORD_FILE); see `gantry nats-config`', kind: 'string', source: 'config', default: 'unset (no auth)', readBy: EVERYONE,
  },
  GANTRY_NATS_PASSWORD_FILE: {
    meaning: "file holding the NATS user's password (one line)", kind: 'string', source: 'config', default: 'unset', readBy: EVERYONE,
  },
  GANTRY_NATS_NKEY_FILE: {
    meaning: 'file holding a NATS user nkey seed (SU...), instead of user and password', kind: 'string', source: 'config', default: 'unset', readBy: EVERYONE,
  },
  GANTRY_NATS_TLS_CA: { meaning: 'CA file that verifies the NATS server (turns on TLS to NATS)', kind: 'string', source: 'config', default: 'unset', readBy: EVERYONE },
  GANTRY_NATS_TLS_CERT: { meaning: 'client certificate presented to NATS (with GANTRY_NATS_TLS_KEY)', kind: 'string', source: 'config', default: 'unset', readBy: EVERYONE },
  GANTRY_NATS_TLS_KEY: { meaning: 'key of the client certificate presented to NATS', kind: 'string', source: 'config', default: 'unset', readBy: EVERYONE },
  // -- the gRPC side of the generator and the discriminator --------------------------------
  GANTRY_GRPC_HOST: { meaning: 'address the gRPC server binds', kind: 'string', source: 'config', default: '127.0.0.1', readBy: PEERS },
  GANTRY_GRPC_PORT: {
    meaning: 'port of the gRPC server', kind: 'integer', source: 'config', default: '50051 (generator), 50052 (discriminator), 50053 (worker)', readBy: PEERS,
  },
  GANTRY_ADVERTISE_ADDR: {
    meaning: 'host:port that heartbeats report for this service', kind: 'string', source: 'config', default: 'grpcHost:grpcPort', readBy: PEERS,
  },
  GANTRY_RPC_TIMEOUT_MS: { meaning: 'deadline of each gRPC call to the peer, ms', kind: 'integer', source: 'config', default: '30000', readBy: PEERS },
  GANTRY_TLS_CA: { meaning: 'CA file of the data plane (gRPC TLS; with GANTRY_TLS_CERT and GANTRY_TLS_KEY)', kind: 'string', source: 'config', default: 'unset (plaintext)', readBy: [...PEERS, 'scheduler'] },
  GANTRY_TLS_CERT: { meaning: "this service's certificate (gRPC server and client)", kind: 'string', source: 'config', default: 'unset', readBy: [...PEERS, 'scheduler'] },
  GANTRY_TLS_KEY: { meaning: "the key of this service's certificate", kind: 'string', source: 'config', default: 'unset', readBy: [...PEERS, 'scheduler'] },
  GANTRY_MTLS: {
    meaning: "mutual TLS: require client certificates of the CA and check each caller's role per method", kind: 'boolean', source: 'config', default: 'off', readBy: PEERS,
  },
  GANTRY_INSECURE: {
    meaning: 'allow a plaintext gRPC listener on a non-loopback address', kind: 'boolean', source: 'config', default: 'off', readBy: PEERS,
  },
  GANTRY_DISCRIMINATOR_ADDR: {
    meaning: "the discriminator's gRPC host:port", kind: 'string', source: 'config', default: 'required', readBy: ['generator', 'scheduler'],
  },
  GANTRY_GENERATOR_ADDR: {
    meaning: "the generator's gRPC host:port", kind: 'string', source: 'config', default: 'required', readBy: ['discriminator', 'scheduler'],
  },
  GANTRY_DISCRIMINATOR_ADDRS: {
    meaning: "every discriminator replica's gRPC host:port in rank order, comma-separated (--discriminator-replicas N above 1: the replicas' ring, rank 0's fan-out, the scheduler's restores)",
    kind: 'string', source: 'config', default: 'unset (one discriminator)', readBy: ['discriminator', 'scheduler'],
  },
  GANTRY_DISCRIMINATOR_RANK: {
    meaning: "this discriminator replica's rank, 0..N-1 (an index into GANTRY_DISCRIMINATOR_ADDRS)", kind: 'integer', source: 'config', default: '0', readBy: ['discriminator'],
  },
  GANTRY_BACKEND: {
    meaning: 'tfjs backend: auto, tensorflow-gpu, tensorflow, wasm or cpu', kind: 'string', source: 'config', default: 'auto', readBy: PEERS,
  },
  GANTRY_DATA_DIR: {
    meaning: "MNIST-format data directory, instead of the training config's data", kind: 'string', source: 'config',
    default: "the training config's data (bundled MNIST)", readBy: ['discriminator', 'worker'],
  },
  // -- the scheduler ------------------------------------------------------------------------
  GANTRY_TRAIN_CONFIG: {
    meaning: 'the training config (a GanTrainConfig JSON file)', kind: 'string', source: 'config',
    default: "the run directory's config.json", readBy: ['scheduler'],
  },
  GANTRY_RUN_KIND: {
    meaning: 'what the scheduler drives: gan (generator and discriminator) or classifier (data-parallel workers)', kind: 'string',
    source: 'config', default: 'gan', readBy: ['scheduler'],
  },
  GANTRY_COMMAND_TIMEOUT_MS: {
    meaning: 'deadline of one step command, ms; must exceed the slowest step', kind: 'integer', source: 'config', default: '120000', readBy: ['scheduler'],
  },
  GANTRY_LIVENESS_MS: {
    meaning: 'a role silent this long is presumed dead, ms; must exceed the slowest step', kind: 'integer', source: 'config',
    default: '5000', readBy: ['scheduler'],
  },
  GANTRY_EVAL_TIMEOUT_MS: {
    meaning: 'deadline and liveness window of one eval command, ms', kind: 'integer', source: 'config', default: '600000', readBy: ['scheduler'],
  },
  GANTRY_RECOVERY_TIMEOUT_MS: {
    meaning: "how long to wait for a dead role's replacement, ms", kind: 'integer', source: 'config', default: '300000', readBy: ['scheduler'],
  },
  GANTRY_COMMAND_RETRIES: { meaning: 're-sends of a timed-out command', kind: 'integer', source: 'config', default: '2', readBy: ['scheduler'] },
  GANTRY_MAX_RECOVERIES: {
    meaning: 'recoveries in a row without a completed iteration before the run fails', kind: 'integer', source: 'config',
    default: '10', readBy: ['scheduler'],
  },
  GANTRY_PROGRESS: { meaning: 'progress bar (TTY) or progress log lines', kind: 'boolean', source: 'config', default: 'on', readBy: ['scheduler'] },
  // -- test hooks of the discriminator ------------------------------------------------------
  GANTRY_TEST_INJECT_NAN_AT: {
    meaning: 'multiplies the real batch of D-step (N, 0) by NaN', kind: 'integer', source: 'config', default: 'unset',
    readBy: ['discriminator'], testOnly: true,
  },
  GANTRY_TEST_EXIT_IN_CHECKPOINT_AT: {
    meaning: 'exits (code 75) after writing the files of checkpoint N, before answering', kind: 'integer', source: 'config',
    default: 'unset', readBy: ['discriminator'], testOnly: true,
  },
  // -- read by modules, not by a config schema ----------------------------------------------
  GANTRY_LOG_FORMAT: {
    meaning: 'log records as JSON lines or short human lines; any other value: json (a logger never fails to start)',
    kind: 'choice', choices: ['json', 'pretty'], source: 'module', readIn: 'services/telemetry/log.ts',
    default: 'json (the local launcher gives its children pretty on a terminal)', readBy: EVERYONE,
  },
  GANTRY_LOG_LEVEL: {
    meaning: 'least severe level logged; any other value: info', kind: 'choice', choices: ['debug', 'info', 'warn', 'error'],
    source: 'module', readIn: 'services/telemetry/log.ts', default: 'info', readBy: EVERYONE,
  },
  GANTRY_DEBUG: {
    meaning: 'errors reach the terminal with their stack (any non-empty value, 0 included)', kind: 'presence', source: 'module',
    readIn: 'services/cli/errors.ts', default: 'unset', readBy: EVERYONE,
  },
  GANTRY_WASM_KERNELS: {
    meaning: "gantry's wasm kernels: fast (all), stock (none) or a comma list of kernels to turn off", kind: 'string',
    source: 'module', readIn: 'services/core/backend/select.ts (parsed by wasm-fast-kernels/index.ts)', default: 'fast', readBy: COMPUTE,
  },
  GANTRY_WASM_THREADS: {
    meaning: 'threads the wasm backend computes on, main thread included', kind: 'integer', min: 1, max: 16,
    source: 'module', readIn: 'services/core/backend/select.ts (parsed by wasm-parallel/settings.ts)',
    default: 'min(2, available cores)', readBy: COMPUTE,
  },
} as const satisfies Record<`GANTRY_${string}`, EnvVarSpec>;

export type EnvVarName = keyof typeof ENV_VARS;

/** Every variable the services read: the names a deployment's manifests may set. */
export const KNOWN_ENV_VARS: readonly EnvVarName[] = Object.keys(ENV_VARS) as EnvVarName[];

/** The variables `reader` reads (what its container's environment may set). */
export function envVarsReadBy(reader: EnvReader): EnvVarName[] {
  return KNOWN_ENV_VARS.filter((name) => (ENV_VARS[name].readBy as readonly EnvReader[]).includes(reader));
}
