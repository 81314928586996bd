// The point-to-point yardsticks of bench/allreduce.ts, one end per process:
//   node --import tsx bench/allreduce-peer.ts grpc-sink | tcp-sink 0 BYTES
//     prints {"port":P}; receives streams until killed
//   node --import tsx bench/allreduce-peer.ts grpc-source | tcp-source PORT BYTES CHUNK_BYTES REPEAT
//     sends BYTES in CHUNK_BYTES pieces REPEAT times, prints {"seconds":[...], "cpuSeconds":[...]} (first
//     write to the sink's reply after the last byte; the source's CPU time, user + system)
// The sinks report their CPU seconds per stream on stderr-free stdout lines {"cpuSeconds":s} after the first line.
// gRPC: the collectives' own Ring stream and message (RingFrame chunks of float32 views), through
// the project's server and client helpers (so the same chunk codec, services/wire/ring-codec.ts, as
// the ring), honouring write() backpressure only (no credits).
// TCP: plain net sockets, the sink answers one byte per BYTES received.
import net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { bidiStream, createServer } from '../services/wire/server.ts';
import { RpcClient } from '../services/wire/client.ts';
import { COLLECTIVE_SERVICE } from '../services/wire/proto.ts';
import type { RingFrame, RingFrame__Output } from '../services/wire/generated/gantry/v1/RingFrame.ts';
import type { RingAck, RingAck__Output } from '../services/wire/generated/gantry/v1/RingAck.ts';

const [role, portArg, bytesArg, chunkArg, repeatArg] = process.argv.slice(2);
const print = (v: unknown): void => void process.stdout.write(JSON.stringify(v) + '\n');

async function grpcSink(): Promise<void> {
  const server = createServer({ reflection: false });
  server.addService(COLLECTIVE_SERVICE, {
    Ring: bidiStream((call: grpc.ServerDuplexStream<RingFrame__Output, RingAck>) => {
      let chunks = 0;
      const cpu0 = process.cpuUsage();
      call.on('data', (f: RingFrame__Output) => { if (f.chunk) chunks++; });
      call.on('end', () => {
        call.write({ consumed: chunks });
        call.end();
        const cpu = process.cpuUsage(cpu0);
        print({ cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      });
    }),
  });
  print({ port: await server.listen(0) });
}

function tcpSink(): void {
  const bytes = Number(bytesArg);
  const server = net.createServer((socket) => {
    let got = 0;
    let cpu0 = process.cpuUsage();
    socket.on('data', (b) => {
      got += b.length;
      while (got >= bytes) {
        got -= bytes;
        socket.write(Buffer.of(1));
        const cpu = process.cpuUsage(cpu0);
        print({ cpuSeconds: (cpu.user + cpu.system) / 1e6 });
        cpu0 = process.cpuUsage();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => print({ port: (server.address() as net.AddressInfo).port }));
}

async function grpcSource(client: RpcClient, bytes: number, chunk: number, payload: Buffer): Promise<number> {
  const { call } = client.duplex<RingFrame, RingAck__Output>('Ring', 600_000);
  const t0 = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', () => resolve());
    call.on('error', reject);
  });
  for (let off = 0, c = 0; off < bytes; off += chunk, c++) {
    const n = Math.min(chunk, bytes - off);
    const frame: RingFrame = { chunk: { id: { runId: 'p2p', generation: 0, step: 0, sequence: 0 }, phase: 'REDUCE_SCATTER',
      ringStep: 0, segment: 0, chunk: c, elements: bytes / 4, chunkElements: chunk / 4,
      data: payload.subarray(off, off + n) } };
    if (!call.write(frame)) await new Promise((r) => call.once('drain', r));
  }
  call.end();
  await done;
  return (performance.now() - t0) / 1000;
}

async function tcpSource(bytes: number, chunk: number, socket: net.Socket, payload: Buffer): Promise<number> {
  const t0 = performance.now();
  const reply = new Promise((r) => socket.once('data', r));
  for (let off = 0; off < bytes; off += chunk) {
    if (!socket.write(payload.subarray(off, Math.min(off + chunk, bytes)))) await new Promise((r) => socket.once('drain', r));
  }
  await reply;
  return (performance.now() - t0) / 1000;
}

if (role === 'grpc-sink') await grpcSink();
else if (role === 'tcp-sink') tcpSink();
else {
  const [port, bytes, chunk, repeat] = [Number(portArg), Number(bytesArg), Number(chunkArg), Number(repeatArg)];
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  const payload = Buffer.alloc(bytes, 1); // a float32 view of it for gRPC: the same bytes
  const socket = role === 'tcp-source' ? net.connect(port, '127.0.0.1') : undefined;
  if (socket) await new Promise((r) => socket.once('connect', r));
  const client = socket ? undefined : new RpcClient(`127.0.0.1:${port}`, COLLECTIVE_SERVICE);
  await client?.waitForReady(10_000);
  for (let i = 0; i < repeat; i++) {
    const cpu0 = process.cpuUsage();
    seconds.push(socket ? await tcpSource(bytes, chunk, socket, payload) : await grpcSource(client!, bytes, chunk, payload));
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6);
  }
  socket?.destroy();
  client?.close();
  print({ seconds, cpuSeconds });
  process.exit(0);
}
