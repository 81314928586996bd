// Tensor codec throughput: encodeTensor + protobuf serialize, then protobuf deserialize +
// decodeTensor (validation and finiteness check included), against a plain Buffer.copy of the
// same bytes measured in the same run. Prints one line per case, then a JSON summary as the last line.
// Usage: node --import tsx bench/codec.ts [--quick]
import { performance } from 'node:perf_hooks';
import { decodeTensor, encodeTensor, type WireDType } from '../services/wire/tensor-codec.ts';
import { GENERATOR_SERVICE, serviceDefinition } from '../services/wire/proto.ts';
import type { GenerateResponse__Output } from '../services/wire/generated/gantry/v1/GenerateResponse.ts';
import { mulberry32 } from '../services/data/seed.ts';

const quick = process.argv.includes('--quick');
const method = serviceDefinition(GENERATOR_SERVICE).Generate;

/** Median seconds per call of fn over enough repetitions to fill ~budgetMs. */
function timeIt(fn: () => void, budgetMs: number): number {
  fn(); // warm-up
  const samples: number[] = [];
  const until = performance.now() + budgetMs;
  while (performance.now() < until || samples.length < 5) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

interface Case { images: number; dtype: WireDType; float32Bytes: number; encodeMBps: number; decodeMBps: number; roundTripMBps: number; bufferCopyMBps: number }

function runCase(images: number, dtype: WireDType, budgetMs: number): Case {
  const shape = [images, 28, 28, 1];
  const rand = mulberry32(images);
  const data = Float32Array.from({ length: images * 784 }, () => rand() * 2 - 1);
  const bytes = data.byteLength;
  let wire: Buffer = method.responseSerialize({ images: encodeTensor(data, shape, dtype) });
  const encode = timeIt(() => { wire = method.responseSerialize({ images: encodeTensor(data, shape, dtype) }); }, budgetMs);
  const decode = timeIt(() => {
    const msg = method.responseDeserialize(wire) as GenerateResponse__Output;
    decodeTensor(msg.images, 'images', { shape, dtypes: [dtype] });
  }, budgetMs);
  const src = Buffer.from(data.buffer);
  const dst = Buffer.allocUnsafe(bytes);
  const copy = timeIt(() => { src.copy(dst); }, budgetMs);
  const mbps = (s: number) => Math.round(bytes / 1e6 / s);
  return {
    images, dtype, float32Bytes: bytes, encodeMBps: mbps(encode), decodeMBps: mbps(decode),
    roundTripMBps: mbps(encode + decode), bufferCopyMBps: mbps(copy),
  };
}

const sizes = quick ? [64, 1337] : [64, 1337, 5349]; // 0.2 MB, 4.2 MB (~4 MiB), 16.8 MB (~16 MiB) of float32
const cases: Case[] = [];
for (const images of sizes) {
  for (const dtype of ['FLOAT32', 'FLOAT16', 'BFLOAT16'] as const) {
    const c = runCase(images, dtype, quick ? 100 : 300);
    cases.push(c);
    console.log(`${dtype.padEnd(8)} ${(c.float32Bytes / 1e6).toFixed(1).padStart(5)} MB  encode ${c.encodeMBps} MB/s  ` +
      `decode ${c.decodeMBps} MB/s  round trip ${c.roundTripMBps} MB/s  (Buffer.copy ${c.bufferCopyMBps} MB/s)`);
  }
}
console.log(JSON.stringify({ bench: 'codec', unit: 'MB/s of float32 payload', node: process.version, cases }));
