// What a data-parallel worker's step costs beyond the one-process step, with no network at all:
// in this process, on one rank of a group of one, the same batch.
//   plain    classifierStep: one tape over the whole network (what `--workers 1` runs)
//   chained  replicaClassifierStep: the network split at its batch norms, each segment's forward
//            recorded on a tape of its own and back-propagated from it (core/parallel/chain.ts,
//            tape.ts), batch norm by hand (sync-bn.ts), the gradients fused into one Float32Array
//            and split back into tensors (fused.ts): what every rank of `--workers N >= 2` runs
//            besides its collectives (its group of one returns the fused buffer as its own sum)
//   fuse     fuseGrads alone: every gradient read back from the backend into one buffer
//   split    splitGrads alone: that buffer back into tensors
// Steps alternate plain / chained so that load on this shared machine hits both alike; medians
// after 2 warm-up steps.
// Usage: npm run bench -- replica-profile [--presets workshop,quick] [--n 5] [--batch 64]
// Prints progress on stderr and one JSON object as the last stdout line.
import { loadavg } from 'node:os';
import { tf } from '../services/core/tf.ts';
import { initBackend } from '../services/core/backend/select.ts';
import { buildClassifier, classifierArch } from '../services/core/presets.ts';
import { CLASSIFIER_PRESETS } from '../services/core/catalog.ts';
import { Adam } from '../services/core/optim.ts';
import { classifierStep } from '../services/core/classifier/step.ts';
import { localReplicaGroups, replicaClassifierStep } from '../services/core/parallel/mod.ts';
import { fuseGrads, splitGrads } from '../services/core/parallel/fused.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const presets = opt('presets', 'workshop,quick').split(',') as (typeof CLASSIFIER_PRESETS)[number][];
for (const p of presets) if (!CLASSIFIER_PRESETS.includes(p)) throw new RangeError(`--presets: expected names among ${CLASSIFIER_PRESETS.join(', ')}, found "${p}"`);
const n = Number(opt('n', '5'));
const batch = Number(opt('batch', '64'));
const WARMUP = 2;
const log = (s: string): void => void process.stderr.write(s + '\n');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return +(s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2).toFixed(1);
};

await initBackend('wasm');
const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decayRate: 0, decaySteps: 1 };
const startLoad = loadavg()[0];
const results = [];
for (const preset of presets) {
  const make = () => {
    const model = buildClassifier(classifierArch(preset, {}), 1);
    return { model, optimizer: new Adam(model.params, hyper) };
  };
  const [plain, chained] = [make(), make()];
  const x = tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D; // (B, 28, 28, 1)
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'); // (B,)
  const [alone] = localReplicaGroups(1);
  const t: Record<'plain' | 'chained' | 'fuse' | 'split', number[]> = { plain: [], chained: [], fuse: [], split: [] };
  const timed = async (into: number[], f: () => unknown, i: number): Promise<void> => {
    const t0 = performance.now();
    await f();
    if (i >= WARMUP) into.push(performance.now() - t0);
  };
  for (let i = 0; i < WARMUP + n; i++) {
    await timed(t.plain, () => classifierStep(plain.model, plain.optimizer, x, labels, i), i);
    await timed(t.chained, () => replicaClassifierStep(chained.model, chained.optimizer, x, labels, alone, batch, i), i);
    const grads = new Map(chained.model.params.map((p) => [p.variable, tf.onesLike(p.variable)] as [tf.Variable, tf.Tensor]));
    let buf: Float32Array = new Float32Array(0);
    await timed(t.fuse, () => { buf = fuseGrads(chained.model.params, grads, [0, 0]); }, i);
    await timed(t.split, () => tf.dispose(splitGrads(chained.model.params, buf).grads), i);
    tf.dispose([...grads.values()]);
  }
  const bytes = 4 * chained.model.params.reduce((a, p) => a + p.variable.size, 0);
  const r = {
    preset, batch, gradientBytes: bytes, plainMs: median(t.plain), chainedMs: median(t.chained), fuseMs: median(t.fuse), splitMs: median(t.split),
    chainedOverPlain: +(median(t.chained) / median(t.plain)).toFixed(3),
  };
  log(`${preset}: plain ${r.plainMs} ms, chained ${r.chainedMs} ms (x${r.chainedOverPlain}; of it fuse ${r.fuseMs} + split ${r.splitMs} ms), ` +
    `${(bytes / 1e6).toFixed(1)} MB of gradients (load ${loadavg()[0].toFixed(1)})`);
  results.push(r);
  tf.dispose([x, labels]);
  for (const m of [plain, chained]) {
    m.model.dispose();
    m.optimizer.dispose();
  }
}
console.log(JSON.stringify({ bench: 'replica-profile', unit: 'ms per call (median)', timed: n, loadavg: { start: +startLoad.toFixed(1), end: +loadavg()[0].toFixed(1) }, results }));
