// The step-time cost model (bench/scaling-model.ts): the ring's alpha-beta formula, the step's
// sum of parts, and the least-squares fit recovering known parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitRing, predictCpu, predictStep, ringSeconds, type StepModel } from '../../bench/scaling-model.ts';

const close = (a: number, b: number, rel = 1e-9): void => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${a} vs ${b}`);

test('ring all-reduce: 2(N-1) alpha + 2(N-1)/N S perByte, nothing for one rank', () => {
  const p = { alphaSeconds: 1e-4, perByteSeconds: 1e-9 };
  assert.equal(ringSeconds(1, 25e6, p), 0);
  close(ringSeconds(2, 25e6, p), 2 * 1e-4 + 1 * 25e6 * 1e-9); // 0.0252
  close(ringSeconds(4, 8e6, p), 6 * 1e-4 + 1.5 * 8e6 * 1e-9);
  close(ringSeconds(4, 8e6, p, 2), 6 * 1e-4 + 2 * 1.5 * 8e6 * 1e-9); // only the per-byte term stretches
  // The bandwidth term tends to 2 S perByte, the latency term grows linearly.
  assert.ok(ringSeconds(64, 25e6, { alphaSeconds: 0, perByteSeconds: 1e-9 }) < 2 * 25e6 * 1e-9);
  assert.throws(() => ringSeconds(0, 1, p), RangeError);
  assert.throws(() => ringSeconds(2, -1, p), RangeError);
});

test('a step is compute + every collective + overhead; efficiency is T(1)/T(N)', () => {
  const m: StepModel = {
    computeSeconds: 0.3, collectiveBytes: [512, 512, 1024, 26e6], gradsIndex: 3,
    ring: { alphaSeconds: 2e-4, perByteSeconds: 1e-9 }, overhead: { o0: 0.01, o1: 0.002 },
  };
  const one = predictStep(1, m);
  close(one.seconds, 0.3 + 0.012);
  assert.equal(one.gradsAllReduce + one.syncBn, 0);
  close(one.efficiency, 1);
  const eight = predictStep(8, m);
  const ring = (s: number): number => 14 * 2e-4 + (14 / 8) * s * 1e-9;
  close(eight.gradsAllReduce, ring(26e6));
  close(eight.syncBn, ring(512) * 2 + ring(1024));
  close(eight.seconds, 0.3 + ring(26e6) + eight.syncBn + 0.01 + 0.016);
  close(eight.efficiency, one.seconds / eight.seconds);
  close(eight.speedup, 8 * eight.efficiency);
  // Four ranks on two cores: compute and per-byte costs double, latency does not.
  const shared = predictStep(4, m, 2);
  close(shared.compute, 0.6);
  close(shared.gradsAllReduce, 6 * 2e-4 + 2 * 1.5 * 26e6 * 1e-9);
  // The replica step's own compute applies from N = 2 on, never to one worker.
  const chained = { ...m, replicaComputeSeconds: 0.45 };
  close(predictStep(1, chained).compute, 0.3);
  close(predictStep(2, chained).compute, 0.45);
  close(predictStep(2, chained).efficiency, (0.3 + 0.012) / predictStep(2, chained).seconds);
});

test('CPU per step: N x (compute_N + ring CPU of every collective) + the scheduler', () => {
  const m: StepModel = {
    computeSeconds: 0.3, replicaComputeSeconds: 0.45, collectiveBytes: [1000, 26e6], gradsIndex: 1,
    ring: { alphaSeconds: 1, perByteSeconds: 1 }, overhead: { o0: 0, o1: 0 },
  };
  close(predictCpu(1, m, 6e-9, 0.01), 0.31);
  close(predictCpu(2, m, 6e-9, 0.01), 2 * (0.45 + (1000 + 26e6) * 6e-9) + 0.01);
  close(predictCpu(4, m, 6e-9), 4 * (0.45 + 1.5 * (1000 + 26e6) * 6e-9));
});

test('fitRing recovers alpha and perByte from exact samples, and clamps at zero', () => {
  const truth = { alphaSeconds: 3e-4, perByteSeconds: 5e-9 };
  const samples = [2, 3, 4].flatMap((n) => [1e6, 10e6, 50e6].map((bytes) => ({ n, bytes, seconds: ringSeconds(n, bytes, truth, Math.max(1, n / 2)) })));
  const fit = fitRing(samples, 2);
  close(fit.alphaSeconds, truth.alphaSeconds, 1e-6);
  close(fit.perByteSeconds, truth.perByteSeconds, 1e-6);
  // Latency-free data with noise that would make alpha negative: alpha 0, perByte refitted.
  const noisy = [{ n: 2, bytes: 1e6, seconds: 0.9e-3 }, { n: 2, bytes: 10e6, seconds: 10e-3 }, { n: 2, bytes: 50e6, seconds: 50e-3 }];
  const f2 = fitRing(noisy);
  assert.equal(f2.alphaSeconds, 0);
  assert.ok(f2.perByteSeconds > 0.9e-9 && f2.perByteSeconds < 1e-9, String(f2.perByteSeconds));
  assert.throws(() => fitRing([{ n: 1, bytes: 1, seconds: 1 }]), RangeError);
});
