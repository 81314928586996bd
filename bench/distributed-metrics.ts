// Where the time of one distributed iteration goes, from the processes' own /metrics pages: two
// scrapes (the scheduler paused at a boundary, so every process is idle and the histograms are
// consistent) and their difference over the iterations between them.
//
// The spans (sums of gantry_* histograms; G = generator, D = discriminator, S = scheduler):
//   S d_step / g_step                 the scheduler's command round trip (NATS request -> reply)
//   D d_step, G g_step                the services' command handlers
//   D client Generate, G client GeneratorGrad   the RPC as its caller sees it
//   G server Generate, D server GeneratorGrad   the RPC's handler on the callee
// give, per iteration:
//   nats    = sum over commands of (round trip - handler)
//   grpc    = sum over RPCs of (client duration - server handler): transport, HTTP/2 and the
//             protobuf (de)serialization of the tensors
//   inside  = handlers - grpc: the math, plus the tensor codec around the RPCs
// The tensor codec outside the RPCs (copy out of the backend, encodeTensor, decodeTensor with its
// finiteness check, copy into the backend) has no histogram of its own; it is measured by a
// microbenchmark of the same tensor in the bench process and taken out of `inside`, which leaves
// compute. The same microbenchmark says how much of `grpc` is protobuf (grpcProtobufMs).
import { performance } from 'node:perf_hooks';
import { tf } from '../services/core/tf.ts';
import { GENERATOR_SERVICE, serviceDefinition } from '../services/wire/proto.ts';
import type { GenerateResponse__Output } from '../services/wire/generated/gantry/v1/GenerateResponse.ts';
import { decodeTensor, encodeTensor } from '../services/wire/tensor-codec.ts';

export const ROLES = ['generator', 'discriminator', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

/** name -> list of (labels, value) of the *_sum, *_count and *_total series on one /metrics page. */
export type Scrape = Map<string, { labels: Record<string, string>; value: number }[]>;
export type Scrapes = Record<Role, Scrape>;

export function parseMetrics(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !/_(sum|count|total)$/.test(m[1])) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const list = out.get(m[1]) ?? [];
    list.push({ labels, value: Number(m[3]) });
    out.set(m[1], list);
  }
  return out;
}

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics on port ${port}: HTTP ${res.status}`);
  return parseMetrics(await res.text());
}

/** process_cpu_seconds_total (prom-client's default metrics: user + system). */
export function cpuSeconds(s: Scrape): number {
  return total(s, 'process_cpu_seconds_total', {});
}

/** Sum of a histogram's series whose labels include `match` (every status code, say). */
function total(s: Scrape, name: string, match: Record<string, string>): number {
  return (s.get(name) ?? [])
    .filter((e) => Object.entries(match).every(([k, v]) => e.labels[k] === v))
    .reduce((n, e) => n + e.value, 0);
}

/** Seconds and calls of one span between two scrapes. */
function span(a: Scrape, b: Scrape, name: string, match: Record<string, string>): { seconds: number; calls: number } {
  return {
    seconds: total(b, `${name}_sum`, match) - total(a, `${name}_sum`, match),
    calls: total(b, `${name}_count`, match) - total(a, `${name}_count`, match),
  };
}

export interface CodecCost {
  /** Per tensor hop: backend copy out + encodeTensor + serialize + deserialize + decodeTensor + copy in. */
  hopMs: number;
  /** Of which protobuf serialize + deserialize (inside the client's RPC duration). */
  protobufMs: number;
}

/** Median cost of one (B, 28, 28, 1) float32 tensor hop, on the current tfjs backend. */
export function measureCodec(batch: number, repeats = 200): CodecCost {
  const method = serviceDefinition(GENERATOR_SERVICE).Generate;
  const shape = [batch, 28, 28, 1] as [number, number, number, number];
  const x = tf.randomNormal(shape, 0, 1, 'float32', 7);
  const hop: number[] = [];
  const proto: number[] = [];
  try {
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const data = x.dataSync() as Float32Array;
      const msg = { images: encodeTensor(data, shape) };
      const t1 = performance.now();
      const wire = method.responseSerialize(msg);
      const back = method.responseDeserialize(wire) as GenerateResponse__Output;
      const t2 = performance.now();
      const decoded = decodeTensor(back.images, 'images', { shape });
      tf.tensor4d(decoded.data, shape).dispose();
      hop.push(performance.now() - t0);
      proto.push(t2 - t1);
    }
  } finally {
    x.dispose();
  }
  const median = (v: number[]): number => v.sort((p, q) => p - q)[Math.floor(v.length / 2)];
  return { hopMs: median(hop), protobufMs: median(proto) };
}

export interface Breakdown {
  /** Iterations between the two scrapes. */
  iterations: number;
  /** Per iteration, in ms; compute + codec + grpc + nats + schedulerOther = the wall time. */
  computeMs: number;
  /** Tensor copies, encodeTensor and decodeTensor around the RPCs (microbenchmark x hops). */
  codecMs: number;
  grpcMs: number;
  /** Of grpcMs: protobuf (de)serialization of the tensors (microbenchmark x hops). */
  grpcProtobufMs: number;
  natsMs: number;
  /** Wall time minus the command round trips: the scheduler's bookkeeping between commands (KV
   *  write, records, progress) and, spread over a block, its pause/resume handshake. */
  schedulerOtherMs: number;
  /** The measured spans behind the split, ms per iteration. */
  spans: Record<string, number>;
}

/**
 * The split of `wallMs` (ms per iteration, measured from the train records) for a run with k
 * D-steps: k + 2 tensor hops per iteration (G(z) to D k times, G(z') to D, the gradient back).
 */
export function breakdown(a: Scrapes, b: Scrapes, iterations: number, k: number, codec: CodecCost, wallMs: number): Breakdown {
  const step = 'gantry_step_duration_seconds';
  const rpc = 'gantry_grpc_duration_seconds';
  const per = (x: { seconds: number }): number => (1000 * x.seconds) / iterations;
  const s = {
    schedulerDStep: per(span(a.scheduler, b.scheduler, step, { phase: 'd_step' })),
    schedulerGStep: per(span(a.scheduler, b.scheduler, step, { phase: 'g_step' })),
    dHandler: per(span(a.discriminator, b.discriminator, step, { phase: 'd_step' })),
    gHandler: per(span(a.generator, b.generator, step, { phase: 'g_step' })),
    generateClient: per(span(a.discriminator, b.discriminator, rpc, { method: 'GeneratorService/Generate', side: 'client' })),
    generateServer: per(span(a.generator, b.generator, rpc, { method: 'GeneratorService/Generate', side: 'server' })),
    genGradClient: per(span(a.generator, b.generator, rpc, { method: 'DiscriminatorService/GeneratorGrad', side: 'client' })),
    genGradServer: per(span(a.discriminator, b.discriminator, rpc, { method: 'DiscriminatorService/GeneratorGrad', side: 'server' })),
  };
  const calls = span(a.discriminator, b.discriminator, step, { phase: 'd_step' }).calls;
  if (calls !== iterations * k) throw new Error(`breakdown: expected ${iterations * k} D-steps between the scrapes, found ${calls}`);
  const nats = s.schedulerDStep - s.dHandler + (s.schedulerGStep - s.gHandler);
  const rpcOverhead = s.generateClient - s.generateServer + (s.genGradClient - s.genGradServer);
  const inside = s.dHandler + s.gHandler - rpcOverhead;
  const hops = k + 2;
  const tensorSide = hops * (codec.hopMs - codec.protobufMs);
  return {
    iterations,
    computeMs: inside - tensorSide,
    codecMs: tensorSide,
    grpcMs: rpcOverhead,
    grpcProtobufMs: hops * codec.protobufMs,
    natsMs: nats,
    schedulerOtherMs: wallMs - (s.schedulerDStep + s.schedulerGStep),
    spans: s,
  };
}
