// Synthetic run directories for the report-* tests: metrics.jsonl, run.json, config.json and
// sample-grid PNGs, written by hand to the run-directory contract.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';

/** The string a config value may hold that must not break the page. */
export const HOSTILE = '</script><script>window.__pwned = 1</script><!-- & "quotes" \u2028';

export async function tempDir(prefix = 'gantry-report-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A grey-gradient PNG of size x size pixels, different per `shade`. */
function png(size: number, shade: number): Buffer {
  const img = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    const v = (i * 7 + shade * 40) % 256;
    img.data.set([v, v, v, 255], i * 4);
  }
  return PNG.sync.write(img);
}

function jsonl(records: Record<string, unknown>[]): string {
  return records.map((r) => JSON.stringify({ ts: '2026-01-01T00:00:00.000Z', ...r })).join('\n') + '\n';
}

export async function writeGanRunDir(dir: string, iterations = 40): Promise<string> {
  await fsp.mkdir(path.join(dir, 'samples'), { recursive: true });
  const records: Record<string, unknown>[] = [];
  for (let t = 1; t <= iterations; t++) {
    records.push({ kind: 'train', iteration: t, lossD: 1.4 - t / 100, lossG: 0.7 + t / 80, dReal: 0.5 + t / 200, dFake: 0.5 - t / 200, lrD: 2e-4, lrG: 2e-4, itPerSec: 20, elapsedSeconds: t / 20 });
    if (t % 20 === 0) {
      records.push({ kind: 'sample', iteration: t, path: path.join(dir, 'samples', `iter-${String(t).padStart(6, '0')}.png`) });
      records.push({ kind: 'eval', iteration: t, mnistScore: 2 + t / 10, fdFeatures: 50 - t, fdLogits: 9 - t / 10, classesCovered: 6 + t / 20, klUniform: 0.3, samples: 1000 });
    }
  }
  records.push({ kind: 'train', iteration: iterations + 1, lossD: null, lossG: 0.5, dReal: 0.5, dFake: 0.5, itPerSec: 20 });
  await fsp.writeFile(path.join(dir, 'metrics.jsonl'), jsonl(records));
  await fsp.writeFile(path.join(dir, 'samples', 'iter-000020.png'), png(28, 1));
  await fsp.writeFile(path.join(dir, 'samples', 'iter-000040.png'), png(28, 2));
  await fsp.writeFile(path.join(dir, 'config.json'), JSON.stringify({ preset: 'dcgan', loss: 'nonsaturating', out: HOSTILE, seed: 1 }));
  await fsp.writeFile(path.join(dir, 'run.json'), JSON.stringify({
    kind: 'gan', backend: { name: 'wasm', device: 'CPU (wasm SIMD, 1 thread)' }, startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:02.000Z', status: 'completed', timings: { trainingSeconds: 2.04 },
  }));
  return dir;
}

export async function writeClassifierRunDir(dir: string): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const records: Record<string, unknown>[] = [];
  for (let s = 1; s <= 30; s++) {
    records.push({ kind: 'train', step: s, epoch: Math.floor(s / 15), loss: 2 / s, accuracy: 1 - 1 / (s + 1), lr: 1e-3, elapsedSeconds: s });
    if (s % 10 === 0) records.push({ kind: 'validation', step: s, epoch: Math.floor(s / 15), loss: 2.2 / s, accuracy: 0.9 + s / 1000 });
  }
  records.push({ kind: 'test', step: 30, loss: 0.071, accuracy: 0.9812 });
  await fsp.writeFile(path.join(dir, 'metrics.jsonl'), jsonl(records));
  await fsp.writeFile(path.join(dir, 'config.json'), JSON.stringify({ preset: 'quick', epochs: 1, note: HOSTILE }));
  await fsp.writeFile(path.join(dir, 'run.json'), JSON.stringify({
    kind: 'classifier', backend: { name: 'cpu', device: 'CPU (plain JS)' }, startedAt: '2026-01-01T00:00:00.000Z',
    status: 'completed', timings: { trainingSeconds: 30 },
  }));
  return dir;
}
