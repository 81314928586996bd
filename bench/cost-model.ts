// The step-time cost model of the data-parallel classifier (bench/scaling-model.ts states it),
// fitted to this machine's measurements and used to predict a cluster:
//   1. the step's collectives and their sizes: counted from one real replica step of the preset
//      (two ranks over the in-process group; every sum's tag and length);
//   2. alpha and the per-byte cost of the ring: fitted to the all-reduce benchmark's calls (N = 2..4,
//      1-50 MB; `--allreduce FILE`, its JSON line), N ranks sharing this machine's cores; the ring's
//      CPU per byte of a rank's traffic from the same calls;
//   3. compute and the scheduler's overhead from the scaling benchmark (`--scaling FILE`, its JSON
//      line): config a gives compute_1 (its CPU seconds per step, which load inflates far less
//      than wall time) and overhead(1), the others overhead(N); compute_N (the replica step) is
//      compute_1 x --replica-factor (`npm run bench -- replica-profile`'s chainedOverPlain);
//   4. the check against the scaling benchmark's N = 1..4 runs: CPU per step of all ranks
//      (load-independent) predicted vs measured, and wall time per step (this machine's load
//      stretches it: the wall model uses the ring fitted under the same kind of load);
//   5. the prediction: N = 8..64 workers, one per machine, on a network of --gbps with --alpha-us
//      per hop, the per-byte cost being the slower of the wire and the rank's CPU (--cpu-ns-per-byte,
//      default the measured one).
// Without files, the figures recorded in bench/README.md (2026-12-06) are used.
// Usage: npm run bench -- cost-model [--preset workshop] [--allreduce FILE] [--scaling FILE]
//        [--replica-factor 1.1] [--gbps 10] [--alpha-us 100] [--cpu-ns-per-byte X] [--compute-ms X]
//        [--overhead-ms O0,O1] [--n 1,2,4,8,16,32,64] [--cores 2]
// Prints the tables on stderr and one JSON object as the last stdout line.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { tf } from '../services/core/tf.ts';
import { initBackend } from '../services/core/backend/select.ts';
import { buildClassifier, classifierArch } from '../services/core/presets.ts';
import { localReplicaGroups, replicaClassifierGrads } from '../services/core/parallel/mod.ts';
import { fitRing, predictCpu, predictStep, type RingSample, type StepModel } from './scaling-model.ts';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const num = (name: string, def: number): number => {
  const v = opt(name);
  const x = v === undefined ? def : Number(v);
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`--${name}: expected a number >= 0, found "${v}"`);
  return x;
};
const log = (s: string): void => void process.stderr.write(s + '\n');
const lastJson = (file: string): Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8').trim().split('\n').pop()!);
const ms = (s: number): string => (1000 * s).toFixed(1);
const preset = opt('preset') ?? 'workshop';
const cores = num('cores', cpus().length);

// Recorded figures (bench/README.md, "The cost model refitted on a quiet machine", 2026-12-07, 2
// cores), used without files: `allreduce --rounds 3` at 06:03-06:04 UTC (load 1.6-3.2) and
// `scaling --rounds 2 --presets workshop --configs a,b,n3,n4` at 07:42-07:45 (load 0.5-3.0; the
// service processes with --initial-old-space-size=256); replica-profile x1.01-1.08 (the segment
// tapes kept). The 2026-12-06 figures at load 14-32 are in
// the README's older sections.
const RECORDED = {
  allreduce: [
    { ranks: 2, mb: 1, seconds: 0.0108, cpuSecondsPerRank: 0.007 },
    { ranks: 2, mb: 10, seconds: 0.0818, cpuSecondsPerRank: 0.049 },
    { ranks: 2, mb: 50, seconds: 0.333, cpuSecondsPerRank: 0.244 },
    { ranks: 3, mb: 1, seconds: 0.0314, cpuSecondsPerRank: 0.011 },
    { ranks: 3, mb: 10, seconds: 0.1141, cpuSecondsPerRank: 0.059 },
    { ranks: 3, mb: 50, seconds: 0.7547, cpuSecondsPerRank: 0.406 },
    { ranks: 4, mb: 1, seconds: 0.0354, cpuSecondsPerRank: 0.012 },
    { ranks: 4, mb: 10, seconds: 0.1432, cpuSecondsPerRank: 0.063 },
    { ranks: 4, mb: 50, seconds: 0.9849, cpuSecondsPerRank: 0.441 },
  ] as { ranks: number; mb: number; seconds: number; cpuSecondsPerRank: number }[],
  scaling: [
    { n: 1, wall: 0.246, compute: 0.242, other: 0.004, cpu: 0.259 },
    { n: 2, wall: 0.515, compute: 0.279, other: 0.005, cpu: 0.781 },
    { n: 3, wall: 0.792, compute: 0.308, other: 0.005, cpu: 1.264 },
    { n: 4, wall: 0.947, compute: 0.388, other: 0.006, cpu: 1.706 },
  ] as Measured[],
  replicaFactor: 1.1,
};

/** One configuration of the scaling benchmark (one wasm thread per worker), per step. */
interface Measured { n: number; wall: number; compute: number; other: number; cpu: number }

// 1. The collectives of one step, from the real model: two ranks, one image each.
async function collectivesOf(name: string): Promise<{ tag: string; bytes: number }[]> {
  await initBackend('wasm');
  const arch = classifierArch(name as Parameters<typeof classifierArch>[0], {});
  const seen: { tag: string; bytes: number }[] = [];
  const groups = localReplicaGroups(2, { onSum: (tag, length) => seen.push({ tag, bytes: 4 * length }) });
  const models = groups.map(() => buildClassifier(arch, 1));
  const xs = groups.map((_, r) => tf.randomNormal([1, 28, 28, 1], 0, 1, 'float32', r) as tf.Tensor4D); // (1, 28, 28, 1) per rank
  const ys = groups.map((_, r) => tf.tensor1d([r], 'int32'));
  try {
    const rs = await Promise.all(groups.map((g, r) => replicaClassifierGrads(models[r], xs[r], ys[r], g, 2)));
    for (const r of rs) tf.dispose(r.grads);
  } finally {
    tf.dispose([...xs, ...ys]);
    for (const m of models) m.dispose();
  }
  return seen;
}

const collectives = await collectivesOf(preset);
const gradsIndex = collectives.findIndex((c) => c.tag === 'grads');
log(`${preset}: ${collectives.length} collectives per step: ${collectives.map((c) => `${c.tag} ${c.bytes} B`).join(', ')}`);

// 2. The ring on this machine.
const allreduceFile = opt('allreduce');
const cases = allreduceFile
  ? (lastJson(allreduceFile).cases as { ranks: number; mb: number; seconds: number; cpuSecondsPerRank: number }[])
  : RECORDED.allreduce;
if (cases.length < 2) throw new RangeError('--allreduce FILE: expected the JSON line of `npm run bench -- allreduce` (recorded figures are missing)');
const samples: RingSample[] = cases.map((c) => ({ n: c.ranks, bytes: c.mb * 1e6, seconds: c.seconds }));
const local = fitRing(samples, cores);
// CPU seconds per byte of one rank's ring traffic (2(N-1)/N S), median over the cases.
const cpuPerByte = cases.map((c) => c.cpuSecondsPerRank / (((2 * (c.ranks - 1)) / c.ranks) * c.mb * 1e6)).sort((a, b) => a - b)[cases.length >> 1];
log(`ring on this machine (${cores} cores): alpha ${(1e6 * local.alphaSeconds).toFixed(0)} us per hop, ${(1e9 * local.perByteSeconds).toFixed(1)} ns per byte ` +
  `(${(1e-6 / local.perByteSeconds).toFixed(0)} MB/s); CPU ${(1e9 * cpuPerByte).toFixed(1)} ns per byte per rank`);
for (const s of samples) {
  const p = predictStep(s.n, { computeSeconds: 0, collectiveBytes: [s.bytes], gradsIndex: 0, ring: local, overhead: { o0: 0, o1: 0 } }, cores);
  log(`  all-reduce N=${s.n} ${s.bytes / 1e6} MB: measured ${ms(s.seconds)} ms, model ${ms(p.gradsAllReduce)} ms`);
}

// 3. Compute and overhead from the scaling benchmark.
const scalingFile = opt('scaling');
let measured = RECORDED.scaling;
if (scalingFile) {
  type Config = { workers: number; threads: number; perStep: { wall: number; compute: number; other: number }; cpuSecondsPerStep?: number };
  const result = (lastJson(scalingFile).results as { preset: string; configs: Record<string, Config> }[]).find((r) => r.preset === preset);
  if (!result?.configs.a) throw new RangeError(`--scaling FILE: expected config a of preset ${preset}`);
  measured = Object.values(result.configs).filter((c) => c.threads === 1)
    .map((c) => ({ n: c.workers, wall: c.perStep.wall, compute: c.perStep.compute, other: c.perStep.other, cpu: c.cpuSecondsPerStep ?? NaN }))
    .sort((a, b) => a.n - b.n);
}
const one = measured.find((m) => m.n === 1);
const replicaFactor = num('replica-factor', RECORDED.replicaFactor);
// compute_1: CPU seconds of config a's step when measured, else its wall compute; --compute-ms wins.
let computeSeconds = one ? (Number.isFinite(one.cpu) ? one.cpu : one.compute) : NaN;
if (opt('compute-ms') !== undefined) computeSeconds = num('compute-ms', 0) / 1000;
if (!Number.isFinite(computeSeconds)) throw new RangeError('--scaling FILE or --compute-ms: the compute time of one step is unknown');
// overhead(N) = o0 + o1 N: --overhead-ms O0,O1, else least squares over the measured N (one N: all of it in o0).
const overhead = ((): { o0: number; o1: number } => {
  const given = opt('overhead-ms');
  if (given !== undefined) {
    const [o0, o1] = given.split(',').map(Number);
    if (!(o0 >= 0 && o1 >= 0)) throw new RangeError(`--overhead-ms: expected O0,O1 (milliseconds >= 0), found "${given}"`);
    return { o0: o0 / 1000, o1: o1 / 1000 };
  }
  if (measured.length < 2) return { o0: measured[0]?.other ?? 0, o1: 0 };
  const mx = measured.reduce((a, m) => a + m.n, 0) / measured.length;
  const my = measured.reduce((a, m) => a + m.other, 0) / measured.length;
  const o1 = Math.max(0, measured.reduce((a, m) => a + (m.n - mx) * (m.other - my), 0) / measured.reduce((a, m) => a + (m.n - mx) ** 2, 0));
  return { o0: Math.max(0, my - o1 * mx), o1 };
})();
const model = (ring: StepModel['ring'], compute = computeSeconds): StepModel => ({
  computeSeconds: compute, replicaComputeSeconds: compute * replicaFactor, collectiveBytes: collectives.map((c) => c.bytes), gradsIndex, ring, overhead,
});

// 4. The check on this machine: CPU per step (all ranks), then wall time with the loaded fit.
const check = measured.map((m) => {
  const cpu = one && Number.isFinite(one.cpu) ? predictCpu(m.n, model(local, one.cpu), cpuPerByte) : NaN;
  const p = predictStep(m.n, model(local, one?.compute ?? computeSeconds), cores);
  log(`  step N=${m.n}: CPU measured ${ms(m.cpu)} ms, model ${ms(cpu)} ms; wall measured ${ms(m.wall)} ms, model ${ms(p.seconds)} ms ` +
    `(compute ${ms(p.compute)}, grads ${ms(p.gradsAllReduce)}, sync-BN ${ms(p.syncBn)}, overhead ${ms(p.overhead)})`);
  const r = (x: number): number | null => (Number.isFinite(x) ? +x.toFixed(4) : null);
  return { n: m.n, cpu: { measured: r(m.cpu), predicted: r(cpu) }, wall: { measured: r(m.wall), predicted: r(p.seconds) } };
});

// 5. A cluster: one rank per machine.
const gbps = num('gbps', 10);
const alphaUs = num('alpha-us', 100);
const cpuNs = num('cpu-ns-per-byte', 1e9 * cpuPerByte);
const wireNs = 8 / gbps; // ns per byte at gbps Gb/s
const cluster = { alphaSeconds: alphaUs * 1e-6, perByteSeconds: Math.max(wireNs, cpuNs) * 1e-9 };
const ns = (opt('n') ?? '1,2,4,8,16,32,64').split(',').map(Number);
log(`cluster: ${gbps} Gb/s (${wireNs.toFixed(2)} ns/B on the wire), alpha ${alphaUs} us per hop, CPU ${cpuNs.toFixed(2)} ns/B per rank: ` +
  `per byte ${(1e9 * cluster.perByteSeconds).toFixed(2)} ns; compute ${ms(computeSeconds)} ms (replica step x${replicaFactor}); ` +
  `overhead ${ms(overhead.o0)} + ${ms(overhead.o1)} N ms`);
const predictions = ns.map((n) => {
  const p = predictStep(n, model(cluster));
  log(`  N=${String(n).padStart(2)}: ${ms(p.seconds)} ms/step = compute ${ms(p.compute)} + grads ${ms(p.gradsAllReduce)} + sync-BN ${ms(p.syncBn)} + ` +
    `overhead ${ms(p.overhead)}; efficiency ${(100 * p.efficiency).toFixed(0)} %, ${p.speedup.toFixed(1)}x one worker`);
  const r = (x: number): number => +x.toFixed(4);
  return { n, seconds: r(p.seconds), compute: r(p.compute), gradsAllReduce: r(p.gradsAllReduce), syncBn: r(p.syncBn), overhead: r(p.overhead),
    efficiency: +p.efficiency.toFixed(3), speedup: +p.speedup.toFixed(2) };
});

console.log(JSON.stringify({
  bench: 'cost-model', preset, unit: 'seconds per step',
  collectives: collectives.map((c) => ({ tag: c.tag, bytes: c.bytes })),
  local: { cores, alphaSeconds: +local.alphaSeconds.toExponential(3), perByteSeconds: +local.perByteSeconds.toExponential(3),
    cpuSecondsPerByte: +cpuPerByte.toExponential(3), computeSeconds: +computeSeconds.toFixed(4), replicaFactor, overhead, check },
  cluster: { gbps, alphaSeconds: cluster.alphaSeconds, cpuSecondsPerByte: cpuNs * 1e-9, perByteSeconds: cluster.perByteSeconds, predictions },
}));
