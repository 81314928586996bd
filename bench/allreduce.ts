// Ring all-reduce bus bandwidth against point-to-point gRPC streaming and raw TCP, every rank and
// every peer its own Node process on loopback.
//   bus bandwidth (nccl-tests): algbw x 2(N-1)/N, algbw = buffer bytes / time of one all-reduce
//   (the time of a call is the slowest rank's).
// Each round measures p2p gRPC, raw TCP and every (N, size) case once, so a change of load on this
// shared machine moves them together; figures are medians over rounds of the per-round medians.
// Usage: npm run bench -- allreduce [--ranks 2,3,4] [--mb 1,10,50] [--rounds 3] [--repeat 3]
//        [--chunk-bytes 1048576] [--window 4] [--sweep] [--copy] [--cpu-prof DIR]
//   --sweep: chunk bytes x window at N=2, the largest size. The all-reduce is a mean in place (what a
//   worker does with its fused gradients); --copy measures the variant that returns a new array.
//   --cpu-prof DIR: every rank process writes a V8 CPU profile into DIR when it exits (open it in
//   Chrome DevTools; it samples wall time, so on a loaded machine it also counts preempted time).
// Prints progress on stderr and one JSON object as the last stdout line.
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnRing, type RankProcess } from '../test/harness/collective-ranks.ts';
import { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_CHUNKS_IN_FLIGHT } from '../services/collective/index.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const list = (name: string, def: string): number[] => opt(name, def).split(',').map(Number);
const ranksList = list('ranks', '2,3,4');
const mbList = list('mb', '1,10,50');
const rounds = Number(opt('rounds', '3'));
const repeat = Number(opt('repeat', '3'));
const chunkBytes = Number(opt('chunk-bytes', String(DEFAULT_CHUNK_BYTES)));
const window = Number(opt('window', String(DEFAULT_MAX_CHUNKS_IN_FLIGHT)));
const sweep = args.includes('--sweep');
const inPlace = !args.includes('--copy');
const cpuProf = opt('cpu-prof', '');
const nodeArgs = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : [];
const log = (s: string): void => void process.stderr.write(s + '\n');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const MB = 1e6;
const PEER = fileURLToPath(new URL('./allreduce-peer.ts', import.meta.url));

type Line = Record<string, unknown>;

function runPeer(argv: string[]): { first: Promise<Line>; rest: Line[]; kill: () => void } {
  const child = spawn(process.execPath, ['--import', 'tsx', PEER, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rest: Line[] = [];
  const first = new Promise<Line>((resolve, reject) => {
    let seen = false;
    createInterface({ input: child.stdout }).on('line', (l) => {
      const v = JSON.parse(l) as Line;
      if (seen) rest.push(v);
      else resolve(v);
      seen = true;
    });
    child.once('exit', (code) => reject(new Error(`${argv[0]} exited with ${code}`)));
  });
  return { first, rest, kill: () => child.kill('SIGKILL') };
}

interface P2p { seconds: number; sendCpu: number; receiveCpu: number }

/** Median seconds to send `bytes` from one process to another (gRPC Ring stream or raw TCP), and each side's CPU seconds. */
async function pointToPoint(kind: 'grpc' | 'tcp', bytes: number): Promise<P2p> {
  const sink = runPeer([`${kind}-sink`, '0', String(bytes)]);
  try {
    const { port } = await sink.first;
    const source = runPeer([`${kind}-source`, String(port), String(bytes), String(kind === 'tcp' ? 1 << 20 : chunkBytes), String(repeat + 1)]);
    const { seconds, cpuSeconds } = (await source.first) as { seconds: number[]; cpuSeconds: number[] };
    await new Promise((r) => setTimeout(r, 50)); // the sink's last CPU line
    return { // the first transfer is a warm-up
      seconds: median(seconds.slice(1)), sendCpu: median(cpuSeconds.slice(1)),
      receiveCpu: median(sink.rest.slice(1).map((l) => l.cpuSeconds as number)),
    };
  } finally {
    sink.kill();
  }
}

/** Median seconds of one all-reduce of `bytes` (the slowest rank's time of each call), and the ranks' mean CPU seconds per call. */
async function allReduce(ranks: RankProcess[], bytes: number, step: number): Promise<{ seconds: number; cpu: number }> {
  for (const p of ranks) p.send({ cmd: 'allreduce', op: 'mean', step, elements: bytes / 4, repeat: repeat + 1, inPlace });
  const answers = await Promise.all(ranks.map((p) => p.next(600_000)));
  const bad = answers.find((a) => a.event !== 'allreduce');
  if (bad) throw new Error(`all-reduce failed: ${JSON.stringify(bad)}`);
  const per = answers.map((a) => (a.seconds as number[]).slice(1));
  const cpu = answers.map((a) => median((a.cpuSeconds as number[]).slice(1)));
  return { seconds: median(per[0].map((_, i) => Math.max(...per.map((s) => s[i])))), cpu: cpu.reduce((x, y) => x + y, 0) / cpu.length };
}

const busbw = (bytes: number, s: number, n: number): number => (bytes / s) * (2 * (n - 1)) / n / MB;

interface Case { ranks: number; mb: number; seconds: number; algbwMBps: number; busbwMBps: number; overP2pGrpc: number; overTcp: number;
  cpuSecondsPerRank: number; cpuBoundBusbwMBps: number; cpuBoundOverP2pGrpc: number }

const startLoad = loadavg()[0];
const largest = Math.max(...mbList) * MB;
const p2p: { grpc: P2p[]; tcp: P2p[] } = { grpc: [], tcp: [] };
const times = new Map<string, { seconds: number; cpu: number }[]>();
let step = 0;
for (let round = 0; round < rounds; round++) {
  p2p.grpc.push(await pointToPoint('grpc', largest));
  p2p.tcp.push(await pointToPoint('tcp', largest));
  const [g, t] = [p2p.grpc.at(-1)!, p2p.tcp.at(-1)!];
  log(`round ${round + 1}/${rounds}: p2p gRPC ${(largest / g.seconds / MB).toFixed(0)} MB/s (CPU s send ${g.sendCpu.toFixed(3)}, receive ` +
    `${g.receiveCpu.toFixed(3)}), raw TCP ${(largest / t.seconds / MB).toFixed(0)} MB/s (load ${loadavg()[0].toFixed(1)})`);
  const configs = sweep
    ? [256 << 10, 1 << 20, 4 << 20].flatMap((c) => [2, 4, 8].map((w) => ({ n: 2, chunk: c, win: w })))
    : ranksList.map((n) => ({ n, chunk: chunkBytes, win: window }));
  for (const { n, chunk, win } of configs) {
    const ranks = await spawnRing(n, { chunkBytes: chunk, maxChunksInFlight: win, collectiveMs: 600_000, nodeArgs });
    try {
      for (const mb of sweep ? [Math.max(...mbList)] : mbList) {
        const r = await allReduce(ranks, mb * MB, step++);
        const key = `${n}|${mb}|${chunk}|${win}`;
        times.set(key, [...(times.get(key) ?? []), r]);
        log(`  N=${n} ${mb} MB chunk ${chunk} window ${win}: ${(r.seconds * 1000).toFixed(0)} ms, bus ${busbw(mb * MB, r.seconds, n).toFixed(0)} MB/s, ` +
          `CPU s per rank ${r.cpu.toFixed(3)}`);
      }
    } finally {
      await Promise.all(ranks.map((p) => p.stop()));
    }
  }
}

const grpcMBps = median(p2p.grpc.map((g) => largest / g.seconds / MB));
const tcpMBps = median(p2p.tcp.map((t) => largest / t.seconds / MB));
const cpuPerMB = (xs: number[]): number => +(median(xs) / (largest / MB) * 1000).toFixed(2);
// What each would reach with a free core per process, from its CPU time alone: point to point is
// bounded by its busier side; a rank sends and receives on one thread, so by its whole CPU time.
const p2pCpuBoundMBps = 1000 / Math.max(cpuPerMB(p2p.grpc.map((g) => g.sendCpu)), cpuPerMB(p2p.grpc.map((g) => g.receiveCpu)));
const cases: (Case & { chunkBytes: number; window: number })[] = [...times.entries()].map(([key, rs]) => {
  const [n, mb, chunk, win] = key.split('|').map(Number);
  const s = median(rs.map((r) => r.seconds));
  const bus = busbw(mb * MB, s, n);
  const cpu = median(rs.map((r) => r.cpu));
  const cpuBound = busbw(mb * MB, cpu, n);
  return { ranks: n, mb, chunkBytes: chunk, window: win, seconds: +s.toFixed(4), algbwMBps: Math.round(mb * MB / s / MB),
    busbwMBps: Math.round(bus), overP2pGrpc: +(bus / grpcMBps).toFixed(3), overTcp: +(bus / tcpMBps).toFixed(3),
    cpuSecondsPerRank: +cpu.toFixed(3), cpuBoundBusbwMBps: Math.round(cpuBound), cpuBoundOverP2pGrpc: +(cpuBound / p2pCpuBoundMBps).toFixed(3) };
});
for (const c of cases) {
  log(`N=${c.ranks} ${String(c.mb).padStart(3)} MB chunk ${c.chunkBytes} window ${c.window}: bus ${c.busbwMBps} MB/s ` +
    `(${(100 * c.overP2pGrpc).toFixed(0)} % of p2p gRPC, ${(100 * c.overTcp).toFixed(0)} % of raw TCP); CPU-bound ${c.cpuBoundBusbwMBps} MB/s ` +
    `(${(100 * c.cpuBoundOverP2pGrpc).toFixed(0)} % of p2p gRPC's)`);
}
console.log(JSON.stringify({
  bench: 'allreduce', unit: 'MB/s (1e6 bytes)', node: process.version, cpus: cpus().length,
  loadavg: { start: +startLoad.toFixed(1), end: +loadavg()[0].toFixed(1) }, rounds, repeat, inPlace,
  p2pGrpcMBps: Math.round(grpcMBps), rawTcpMBps: Math.round(tcpMBps), p2pMB: largest / MB,
  // CPU milliseconds per MB moved, each side of the point-to-point transfers.
  p2pGrpcCpuMsPerMB: { send: cpuPerMB(p2p.grpc.map((g) => g.sendCpu)), receive: cpuPerMB(p2p.grpc.map((g) => g.receiveCpu)) },
  rawTcpCpuMsPerMB: { send: cpuPerMB(p2p.tcp.map((t) => t.sendCpu)), receive: cpuPerMB(p2p.tcp.map((t) => t.receiveCpu)) },
  // Bandwidth from CPU time alone (a free core per process): p2p 1000 / max(send, receive) ms per MB;
  // per case cpuBoundBusbwMBps = busbw at cpuSecondsPerRank, and its ratio to p2p's.
  p2pGrpcCpuBoundMBps: Math.round(p2pCpuBoundMBps),
  cases,
}));
