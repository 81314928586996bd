// The Prometheus metrics of one gantry process. Each call builds its own Registry (the global one
// would merge two services started in one test process), with the role (and, for replicas, the
// rank) as default labels on every series, the default process metrics, and the project's
// metrics. Every label has a small fixed set of values: never a step number, run id or address.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRICS_ROLES = ['generator', 'discriminator', 'scheduler', 'trainer', 'worker'] as const;
export type MetricsRole = (typeof METRICS_ROLES)[number];

/** Label values, listed so callers and dashboards agree on them; train_step is one data-parallel
 *  classifier step on a worker (forward, backward and its collectives). */
export const STEP_PHASES = ['d_step', 'g_step', 'generate', 'gen_grad', 'checkpoint', 'train_step'] as const;
export type StepPhase = (typeof STEP_PHASES)[number];
export const LOSS_NAMES = ['d', 'g', 'gp'] as const;
export const D_INPUTS = ['real', 'fake'] as const;
export const DIRECTIONS = ['sent', 'received'] as const;
export const GRPC_SIDES = ['client', 'server'] as const;

export interface MetricsOptions {
  /** Replica rank (workers): becomes a default label. */
  rank?: number;
}

export interface Metrics {
  readonly role: MetricsRole;
  readonly registry: Registry;
  /** labels: phase (STEP_PHASES). */
  readonly stepDuration: Histogram<'phase'>;
  /** labels: loss (LOSS_NAMES). */
  readonly loss: Gauge<'loss'>;
  /** Mean discriminator output; labels: input (D_INPUTS). */
  readonly dOutputMean: Gauge<'input'>;
  readonly iteration: Gauge;
  /** Serialized message bytes; labels: method ("GeneratorService/Generate"), direction. */
  readonly grpcClientBytes: Counter<'method' | 'direction'>;
  readonly grpcServerBytes: Counter<'method' | 'direction'>;
  /** labels: method, side (GRPC_SIDES), code (a grpc status name such as "OK"). */
  readonly grpcDuration: Histogram<'method' | 'side' | 'code'>;
  readonly checkpointDuration: Histogram;
}

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STEP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const CHECKPOINT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
})();

export function createMetrics(role: MetricsRole, opts: MetricsOptions = {}): Metrics {
  if (!METRICS_ROLES.includes(role)) {
    throw new RangeError(`createMetrics: role must be one of ${METRICS_ROLES.join(', ')}, found ${JSON.stringify(role)}`);
  }
  if (opts.rank !== undefined && (!Number.isSafeInteger(opts.rank) || opts.rank < 0)) {
    throw new RangeError(`createMetrics: rank must be a non-negative integer, found ${opts.rank}`);
  }
  const registry = new Registry();
  registry.setDefaultLabels(opts.rank === undefined ? { role } : { role, rank: String(opts.rank) });
  collectDefaultMetrics({ register: registry });
  // prom-client's three gauges named *_total break the Prometheus naming rules (promtool flags
  // them); their per-type breakdowns (nodejs_active_handles{type} etc.) remain and sum to them.
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  const registers = [registry];
  registerTfjsGauges(registry);
  return {
    role,
    registry,
    stepDuration: new Histogram({
      name: 'gantry_step_duration_seconds', help: 'Wall time of one step of the given phase.',
      labelNames: ['phase'], buckets: STEP_BUCKETS, registers,
    }),
    loss: new Gauge({ name: 'gantry_loss', help: 'Latest loss value (dimensionless).', labelNames: ['loss'], registers }),
    // Spelled out: promtool's lint reads "_d_" in a name as the unit "days".
    dOutputMean: new Gauge({
      name: 'gantry_discriminator_output_mean', help: "Mean of D's output on the latest real or fake batch.",
      labelNames: ['input'], registers,
    }),
    iteration: new Gauge({ name: 'gantry_iteration', help: 'Latest completed iteration (or step).', registers }),
    grpcClientBytes: new Counter({
      name: 'gantry_grpc_client_bytes_total', help: 'Serialized gRPC message bytes on the client side.',
      labelNames: ['method', 'direction'], registers,
    }),
    grpcServerBytes: new Counter({
      name: 'gantry_grpc_server_bytes_total', help: 'Serialized gRPC message bytes on the server side.',
      labelNames: ['method', 'direction'], registers,
    }),
    grpcDuration: new Histogram({
      name: 'gantry_grpc_duration_seconds', help: 'gRPC call latency, from the call to its status.',
      labelNames: ['method', 'side', 'code'], buckets: LATENCY_BUCKETS, registers,
    }),
    checkpointDuration: new Histogram({
      name: 'gantry_checkpoint_duration_seconds', help: 'Wall time of writing one checkpoint.',
      buckets: CHECKPOINT_BUCKETS, registers,
    }),
  };
}

/** How the tfjs gauges read TensorFlow.js. core/tf.ts, the one module that imports tfjs, sets it
 *  when it loads (telemetry sits below the math core and does not import it); a process that
 *  never loads tfjs reports 0 tensors and backend "none". */
export interface TfjsProbe {
  numTensors(): number;
  numBytes(): number;
  /** The backend in use, undefined before one is set. */
  backend(): string | undefined;
}

let tfjsProbe: TfjsProbe = { numTensors: () => 0, numBytes: () => 0, backend: () => undefined };

export function setTfjsProbe(probe: TfjsProbe): void {
  tfjsProbe = probe;
}

/** Gauges read at scrape time, through the probe. */
function registerTfjsGauges(registry: Registry): void {
  const registers = [registry];
  new Gauge({
    name: 'gantry_tfjs_tensors', help: 'Live TensorFlow.js tensors.', registers,
    collect() { this.set(tfjsProbe.numTensors()); },
  });
  new Gauge({
    name: 'gantry_tfjs_bytes', help: 'Bytes held by live TensorFlow.js tensors.', registers,
    collect() { this.set(tfjsProbe.numBytes()); },
  });
  new Gauge({
    name: 'gantry_info', help: 'Always 1; labels name the tfjs backend in use ("none" before one is set) and the gantry version.',
    labelNames: ['backend', 'version'], registers,
    collect() {
      this.reset();
      this.set({ backend: tfjsProbe.backend() ?? 'none', version: VERSION }, 1);
    },
  });
}
