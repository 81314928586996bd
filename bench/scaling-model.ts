// The cost model of one data-parallel classifier step (bench/README.md, "Scaling and the cost
// model"): every worker computes its slice, then the step's collectives run over the ring.
//
//   T(N) = compute_N(B_local) + sum_i ring(N, S_i) + overhead(N)
//   ring(N, S) = 2(N-1) alpha + 2(N-1)/N * S * perByte          (0 for N = 1)
//
// compute_1 is the one-process step (one tape over the network); compute_N for N >= 2 is the
// replica step (core/parallel: the network split at its batch norms, each segment's forward run
// again under its own tape, the gradients fused into one buffer and split back), measured apart
// by `npm run bench -- replica-profile` (x1.45-1.7 for the workshop classifier).
//
// ring() is the alpha-beta model of a ring all-reduce (reduce-scatter, then all-gather: 2(N-1)
// hops, each rank sending 2(N-1)/N * S bytes in all). alpha is one hop's latency; perByte the
// seconds per byte of the slower of the wire (1/bandwidth) and the rank's CPU (serialising,
// sending, receiving and reducing one byte: the whole gRPC path runs on the rank's one Node
// thread, so it is paid per byte whatever the network), assuming the chunk pipeline overlaps the
// two. The collectives of a step S_i: sync batch norm's three per batch-norm layer (sum and sum of
// squares forward, [sum dy, sum dy x_hat] backward; C, C and 2C floats) and the fused gradient.
// overhead(N) = o0 + o1 N: the scheduler's step command to every rank over NATS and its replies.
// On a machine with fewer cores than ranks the CPU-bound parts (compute and the ring's per-byte
// CPU) stretch by `oversubscription` = max(1, N / cores); the predictions for a cluster assume
// one rank per machine (oversubscription 1).

export interface RingParams {
  /** Seconds per hop (latency of one chunk exchange with a neighbour). */
  alphaSeconds: number;
  /** Seconds per byte of a rank's share of the ring traffic (max of wire and CPU). */
  perByteSeconds: number;
}

export interface StepModel {
  /** Seconds of the one-process step at the per-worker batch (one core): compute_1. */
  computeSeconds: number;
  /** Seconds of the replica step at that batch (compute_N, N >= 2); default computeSeconds. */
  replicaComputeSeconds?: number;
  /** Bytes of each collective of one step, in order (sync batch norm's, then the gradients). */
  collectiveBytes: readonly number[];
  /** Index into collectiveBytes of the fused gradient buffer (the rest are sync batch norm's). */
  gradsIndex: number;
  ring: RingParams;
  /** overhead(N) = o0 + o1 * N seconds. */
  overhead: { o0: number; o1: number };
}

export interface StepPrediction {
  n: number;
  seconds: number;
  compute: number;
  gradsAllReduce: number;
  syncBn: number;
  overhead: number;
  /** T(1) / T(N): per-worker batch fixed, so throughput is N * efficiency times one worker's. */
  efficiency: number;
  /** N * efficiency. */
  speedup: number;
}

/** Seconds of one ring all-reduce of `bytes` over `n` ranks; `cpuStretch` multiplies the per-byte term. */
export function ringSeconds(n: number, bytes: number, p: RingParams, cpuStretch = 1): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n: expected an integer >= 1, found ${n}`);
  if (!(bytes >= 0)) throw new RangeError(`bytes: expected >= 0, found ${bytes}`);
  if (n === 1) return 0;
  return 2 * (n - 1) * p.alphaSeconds + ((2 * (n - 1)) / n) * bytes * p.perByteSeconds * cpuStretch;
}

/** T(n) and its parts; `cores` > 0 models n ranks sharing that many cores (default: one rank per machine). */
export function predictStep(n: number, m: StepModel, cores = Infinity): StepPrediction {
  const stretch = Math.max(1, n / cores);
  const part = (k: number): number => ringSeconds(n, m.collectiveBytes[k], m.ring, stretch);
  const grads = part(m.gradsIndex);
  const syncBn = m.collectiveBytes.reduce((a, _, k) => (k === m.gradsIndex ? a : a + part(k)), 0);
  const compute = (n === 1 ? m.computeSeconds : (m.replicaComputeSeconds ?? m.computeSeconds)) * stretch;
  const overhead = m.overhead.o0 + m.overhead.o1 * n;
  const seconds = compute + grads + syncBn + overhead;
  const one = m.computeSeconds + m.overhead.o0 + m.overhead.o1;
  return { n, seconds, compute, gradsAllReduce: grads, syncBn, overhead, efficiency: one / seconds, speedup: (n * one) / seconds };
}

/**
 * CPU seconds of one step summed over the N ranks (load-independent, unlike T(N)): N x (compute_N
 * + the ring's CPU for every collective, 2(N-1)/N S cpuPerByte) + the scheduler's CPU per step.
 */
export function predictCpu(n: number, m: StepModel, cpuPerByteSeconds: number, schedulerCpuSeconds = 0): number {
  const compute = n === 1 ? m.computeSeconds : (m.replicaComputeSeconds ?? m.computeSeconds);
  const ring = n === 1 ? 0 : m.collectiveBytes.reduce((a, s) => a + ((2 * (n - 1)) / n) * s * cpuPerByteSeconds, 0);
  return n * (compute + ring) + schedulerCpuSeconds;
}

export interface RingSample { n: number; bytes: number; seconds: number }

/**
 * Least-squares fit of seconds = x1 alpha + x2 perByte with x1 = 2(n-1), x2 = 2(n-1)/n * bytes *
 * stretch(n) (the 2x2 normal equations; each sample weighted by 1/seconds, so a 1 MB call counts
 * as much as a 50 MB one). Negative solutions are clamped to 0 and the other refitted alone.
 */
export function fitRing(samples: readonly RingSample[], cores = Infinity): RingParams {
  const rows = samples.filter((s) => s.n > 1).map((s) => {
    const w = 1 / s.seconds;
    return { a: 2 * (s.n - 1) * w, b: ((2 * (s.n - 1)) / s.n) * s.bytes * Math.max(1, s.n / cores) * w, y: s.seconds * w };
  });
  if (rows.length < 2) throw new RangeError(`samples: expected at least 2 with n > 1, found ${rows.length}`);
  const sum = (f: (r: (typeof rows)[number]) => number): number => rows.reduce((acc, r) => acc + f(r), 0);
  const [saa, sab, sbb, say, sby] = [sum((r) => r.a * r.a), sum((r) => r.a * r.b), sum((r) => r.b * r.b), sum((r) => r.a * r.y), sum((r) => r.b * r.y)];
  const det = saa * sbb - sab * sab;
  let alpha = (say * sbb - sby * sab) / det;
  let perByte = (saa * sby - sab * say) / det;
  if (!(alpha >= 0)) [alpha, perByte] = [0, sby / sbb];
  if (!(perByte >= 0)) [alpha, perByte] = [say / saa, 0];
  return { alphaSeconds: alpha, perByteSeconds: perByte };
}
