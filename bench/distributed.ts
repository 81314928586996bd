// Distributed vs in-process: ms per iteration of the same GAN config (batch 64, k = 1, seed 1) on
// the same backend, measured in this one run, per preset; and where the distributed iteration's
// time goes (compute, tensor codec, gRPC, NATS, the scheduler's bookkeeping; see
// bench/distributed-metrics.ts). Prints one line per preset on stderr, then a JSON summary as the
// last stdout line. The target is a ratio distributed / in-process <= 1.10 for dcgan.
// Usage: node --import tsx bench/distributed.ts [--iterations N] [--warmup W] [--rounds R]
//        [--presets mlp,dcgan] [--backend wasm]
//
// The machine may be shared, so the two are measured in alternating blocks rather than one after
// the other: a distributed run (runLocalCluster: nats-server, generator, discriminator, scheduler
// as processes) is paused over the control subject after W iterations; then R times: N/R
// iterations in-process (ganIteration, the in-process trainer's loop body, on this process's own
// G and D after W warm-up iterations), then the distributed run is resumed for N/R iterations and
// paused again. Only one of the two computes at any time. A block's time runs from the resume to
// the 'paused' event (bench clock), so it includes one pause/resume handshake. Every process's
// /metrics is scraped at each pause; their differences give the breakdown.
import { promises as fsp } from 'node:fs';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { BACKEND_CHOICES, type BackendChoice, initBackend } from '../services/core/backend/select.ts';
import { GeneratorNode } from '../services/core/gan/generator-node.ts';
import { DiscriminatorNode } from '../services/core/gan/discriminator-node.ts';
import { GAN_PRESETS, type GanPreset } from '../services/core/presets.ts';
import { closeNats, connectNats } from '../services/control/connection.ts';
import { encodeMessage } from '../services/control/messages.ts';
import { runSubjects } from '../services/control/subjects.ts';
import { loadImageSet } from '../services/data/mnist.ts';
import { type ClusterEvent, runLocalCluster } from '../services/launcher/local-cluster.ts';
import { startNatsServer } from '../services/launcher/nats-server.ts';
import { freePorts } from '../services/launcher/ports.ts';
import { createLogger } from '../services/telemetry/log.ts';
import { type GanTrainConfig, ganTrainSchema, parseConfig, toGanMathConfig } from '../services/train/config.ts';
import { ganIteration } from '../services/train/gan-trainer.ts';
import { type Breakdown, breakdown, cpuSeconds, measureCodec, type Role, ROLES, scrape, type Scrapes } from './distributed-metrics.ts';

const BATCH = 64;
const quiet = createLogger({ component: 'bench', level: 'error' });

interface Options { iterations: number; warmup: number; rounds: number; presets: GanPreset[]; backend: BackendChoice }

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function intFlag(name: string, fallback: number, min: number): number {
  const raw = flag(name);
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name}: expected an integer >= ${min}, found ${raw}`);
  return v;
}

function parseArgs(): Options {
  const presets = (flag('--presets') ?? 'mlp,dcgan').split(',') as GanPreset[];
  const bad = presets.find((p) => !GAN_PRESETS.includes(p));
  if (bad) throw new Error(`--presets: expected a comma list of ${GAN_PRESETS.join(', ')}, found ${JSON.stringify(bad)}`);
  const backend = (flag('--backend') ?? 'wasm') as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) throw new Error(`--backend: expected one of ${BACKEND_CHOICES.join(', ')}, found ${JSON.stringify(backend)}`);
  const iterations = intFlag('--iterations', 30, 2);
  const rounds = Math.min(intFlag('--rounds', 5, 1), iterations);
  return { iterations, warmup: intFlag('--warmup', 5, 1), rounds, presets, backend };
}

function benchConfig(preset: GanPreset, backend: BackendChoice, iterations: number, out: string): GanTrainConfig {
  return parseConfig(ganTrainSchema, {
    preset, backend, batchSize: BATCH, iterations, out, sampleEvery: 1e9, checkpointEvery: 1e9, keepCheckpoints: 1,
  }, 'bench config');
}

/** Keeps the children's last log lines, for the error message of a failed run. */
class Tail extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    this.lines.splice(0, Math.max(0, this.lines.length - 40));
    done();
  }
}

/** Pauses, resumes and stops a distributed run over its control subject, from its progress events. */
class RunControl {
  private target = Number.POSITIVE_INFINITY;
  private asked = false;
  private onPaused: ((iteration: number) => void) | undefined;

  constructor(private readonly nc: NatsConnection, private readonly runId: string) {}

  onEvent = (e: ClusterEvent): void => {
    if (e.type !== 'progress') return;
    if (e.status === 'running' && !this.asked && e.iteration >= this.target) {
      this.asked = true;
      this.send('pause');
    } else if (e.status === 'paused' && this.asked) {
      this.asked = false;
      this.target = Number.POSITIVE_INFINITY;
      this.onPaused?.(e.iteration);
    }
  };

  /** Resolves with the iteration the run paused at, once it has done `iteration` (or more). */
  pauseAt(iteration: number, resume: boolean): Promise<number> {
    this.target = iteration;
    const paused = new Promise<number>((resolve) => { this.onPaused = resolve; });
    if (resume) this.send('resume');
    return paused;
  }

  send(type: 'pause' | 'resume' | 'stop'): void {
    this.nc.publish(runSubjects(this.runId).control, encodeMessage({ type, run: this.runId, reason: 'bench/distributed.ts' }));
  }
}

async function scrapeAll(ports: Record<Role, number>): Promise<Scrapes> {
  const [generator, discriminator, scheduler] = await Promise.all(ROLES.map((r) => scrape(ports[r])));
  return { generator, discriminator, scheduler };
}

interface Measured { ms: number[]; cpuMs: number }

/** The in-process side: this process's own G and D, one ganIteration at a time. */
class InProcess {
  private t = 0;
  readonly ms: number[] = [];
  cpuMs = 0;
  private constructor(private readonly g: GeneratorNode, private readonly d: DiscriminatorNode) {}

  static async create(cfg: GanTrainConfig): Promise<InProcess> {
    const math = toGanMathConfig(cfg);
    return new InProcess(new GeneratorNode(math), new DiscriminatorNode(math, await loadImageSet({ split: 'train' })));
  }

  run(n: number, timed: boolean): void {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++, this.t++) {
      const t0 = performance.now();
      ganIteration(this.g, this.d, this.t);
      if (timed) this.ms.push(performance.now() - t0);
    }
    const cpu = process.cpuUsage(cpu0);
    if (timed) this.cpuMs += (cpu.user + cpu.system) / 1000;
  }

  dispose(): void {
    this.g.dispose();
    this.d.dispose();
  }
}

interface PresetResult {
  inProcessMs: number;
  distributedMs: number;
  ratio: number;
  inProcessMedianMs: number;
  /** Median of the distributed blocks' ms per iteration. */
  distributedMedianBlockMs: number;
  /** CPU ms per iteration: this process in-process; each service process distributed. */
  cpuMs: { inProcess: number; generator: number; discriminator: number; scheduler: number };
  blocks: { inProcessMs: number; distributedMs: number; iterations: number }[];
  breakdown: Breakdown;
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function benchPreset(preset: GanPreset, o: Options, root: string, natsUrl: string, nc: NatsConnection): Promise<PresetResult> {
  const cfg = benchConfig(preset, o.backend, o.warmup + o.iterations + 10 * o.rounds + 10, path.join(root, `distributed-${preset}`));
  const local = await InProcess.create(cfg);
  const runId = `bench-${preset}-${process.pid}`;
  const [g, d, s] = await freePorts(3);
  const ports: Record<Role, number> = { generator: g, discriminator: d, scheduler: s };
  const control = new RunControl(nc, runId);
  const output = new Tail();
  let paused = control.pauseAt(o.warmup, false);
  const cluster = runLocalCluster(cfg, {
    natsUrl, runId, log: quiet, output, progress: false, handleSignals: false, onEvent: control.onEvent,
    env: {
      generator: { GANTRY_METRICS_PORT: String(g) }, discriminator: { GANTRY_METRICS_PORT: String(d) },
      // A busy shared machine must not make a slow step look like a dead service.
      scheduler: { GANTRY_METRICS_PORT: String(s), GANTRY_LIVENESS_MS: '120000' },
    },
  });
  const failed = cluster.then(
    () => { throw new Error(`${preset}: the distributed run ended before the bench was done`); },
    (err: unknown) => { throw new Error(`${preset}: the distributed run failed: ${(err as Error).message}\n${output.lines.join('\n')}`); },
  );
  failed.catch(() => undefined);
  try {
    let at = await Promise.race([paused, failed]);
    const scrapes = [await scrapeAll(ports)];
    const first = at;
    local.run(o.warmup, false);
    const blocks: PresetResult['blocks'] = [];
    for (let r = 0; r < o.rounds; r++) {
      const n = Math.floor(o.iterations / o.rounds) + (r < o.iterations % o.rounds ? 1 : 0);
      const before = local.ms.length;
      local.run(n, true);
      const t0 = performance.now();
      paused = control.pauseAt(at + n, true);
      const next = await Promise.race([paused, failed]);
      const wall = performance.now() - t0;
      scrapes.push(await scrapeAll(ports));
      blocks.push({ inProcessMs: mean(local.ms.slice(before)), distributedMs: wall / (next - at), iterations: next - at });
      at = next;
    }
    control.send('stop');
    await cluster;
    const distIterations = at - first;
    const distMs = blocks.reduce((sum, b) => sum + b.distributedMs * b.iterations, 0) / distIterations;
    const a = scrapes[0];
    const z = scrapes[scrapes.length - 1];
    const cpu = (role: Role): number => (1000 * (cpuSeconds(z[role]) - cpuSeconds(a[role]))) / distIterations;
    const inMs = mean(local.ms);
    return {
      inProcessMs: inMs, distributedMs: distMs, ratio: distMs / inMs,
      inProcessMedianMs: median(local.ms), distributedMedianBlockMs: median(blocks.map((b) => b.distributedMs)),
      cpuMs: { inProcess: local.cpuMs / local.ms.length, generator: cpu('generator'), discriminator: cpu('discriminator'), scheduler: cpu('scheduler') },
      blocks,
      breakdown: breakdown(a, z, distIterations, cfg.dSteps, measureCodec(BATCH), distMs),
    };
  } finally {
    control.send('stop');
    await cluster.catch(() => undefined);
    local.dispose();
  }
}

function roundAll(v: unknown): unknown {
  if (typeof v === 'number') return Number(v.toFixed(3));
  if (Array.isArray(v)) return v.map(roundAll);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundAll(x)]));
  return v;
}

async function main(): Promise<void> {
  const o = parseArgs();
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'gantry-bench-distributed-'));
  const backend = await initBackend(o.backend, quiet);
  const nats = await startNatsServer({ storeDir: path.join(root, 'nats') });
  const nc = await connectNats(nats.url, { name: 'bench', log: quiet });
  const results: Partial<Record<GanPreset, PresetResult>> = {};
  try {
    for (const preset of o.presets) {
      const r = await benchPreset(preset, o, root, nats.url, nc);
      results[preset] = r;
      const b = r.breakdown;
      process.stderr.write(`${preset.padEnd(6)} in-process ${r.inProcessMs.toFixed(1)} ms/it, distributed ${r.distributedMs.toFixed(1)} ms/it, ` +
        `ratio ${r.ratio.toFixed(3)} | compute ${b.computeMs.toFixed(1)}, codec ${b.codecMs.toFixed(2)}, gRPC ${b.grpcMs.toFixed(2)}, ` +
        `NATS ${b.natsMs.toFixed(2)}, scheduler ${b.schedulerOtherMs.toFixed(2)} ms/it | cpu ms/it in-process ${r.cpuMs.inProcess.toFixed(1)}, ` +
        `G+D ${(r.cpuMs.generator + r.cpuMs.discriminator).toFixed(1)}, scheduler ${r.cpuMs.scheduler.toFixed(1)}\n`);
    }
  } finally {
    await closeNats(nc);
    await nats.stop(2_000);
    await fsp.rm(root, { recursive: true, force: true });
  }
  const dcgan = results.dcgan;
  console.log(JSON.stringify({
    bench: 'distributed', unit: 'ms per iteration', backend: { name: backend.name, device: backend.device }, batchSize: BATCH, dSteps: 1,
    iterations: o.iterations, warmup: o.warmup, rounds: o.rounds, node: process.version, cpus: os.cpus().length,
    presets: roundAll(results),
    target: { preset: 'dcgan', maxRatio: 1.1, ratio: dcgan ? Number(dcgan.ratio.toFixed(4)) : null, met: dcgan ? dcgan.ratio <= 1.1 : null },
  }));
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench/distributed.ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
