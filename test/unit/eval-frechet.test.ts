// Fréchet distance against values derived by hand for small Gaussians whose sample statistics are exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { choleskyFactor, frechetDistance, frechetFromStats, gaussianStats, type GaussianStats } from '../../services/eval/frechet.ts';
import { mulberry32 } from '../../services/data/seed.ts';

const close = (a: number, b: number, tol = 1e-9, what = ''): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what} expected ${b}, found ${a}`);

/**
 * Four points mu ± c l1, mu ± c l2 with c = sqrt(3/2): mean mu and unbiased covariance
 * (2 c^2 / 3)(l1 l1^T + l2 l2^T) = l1 l1^T + l2 l2^T exactly.
 */
function pointsWith(mu: [number, number], l1: [number, number], l2: [number, number]): Float64Array {
  const c = Math.sqrt(1.5);
  const rows = [l1, l2].flatMap((l) => [[mu[0] + c * l[0], mu[1] + c * l[1]], [mu[0] - c * l[0], mu[1] - c * l[1]]]);
  return Float64Array.from(rows.flat());
}

const stats = (mean: number[], cov: number[]): GaussianStats =>
  ({ dim: mean.length, count: 100, mean: Float64Array.from(mean), cov: Float64Array.from(cov) });

test('gaussianStats matches numpy mean and unbiased np.cov', () => {
  // np.cov([[1,2],[3,5],[5,11]], rowvar=False) = [[4, 9], [9, 21]]; mean [3, 6].
  const s = gaussianStats(Float64Array.from([1, 2, 3, 5, 5, 11]), 2);
  assert.deepEqual(Array.from(s.mean), [3, 6]);
  assert.deepEqual(Array.from(s.cov), [4, 9, 9, 21]);
  assert.equal(s.count, 3);
});

test('gaussianStats: blocked sums equal the textbook two-pass formula (odd dim, several blocks)', () => {
  const rand = mulberry32(3);
  const n = 150, dim = 13;
  const x = Float32Array.from({ length: n * dim }, () => rand() * 4 - 1);
  const s = gaussianStats(x, dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) {
      let acc = 0;
      for (let r = 0; r < n; r++) acc += (x[r * dim + i] - s.mean[i]) * (x[r * dim + j] - s.mean[j]);
      close(s.cov[i * dim + j], acc / (n - 1), 1e-12, `cov[${i}, ${j}]`);
    }
  }
});

test('1-D: d = (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2)', () => {
  // {1, 3}: mean 2, var 2. {5, 9}: mean 7, var 8. d = 25 + 2 + 8 - 2 * 4 = 27.
  close(frechetDistance(Float64Array.from([1, 3]), Float64Array.from([5, 9]), 1), 27);
  close(frechetFromStats(stats([0.5], [3]), stats([-1], [12])), 2.25 + 3 + 12 - 2 * 6);
});

test('diagonal 2-D: the dimensions add up', () => {
  // N(0, diag(1, 4)) vs N((3, 4), diag(9, 16)): 25 + (1 + 9 - 6) + (4 + 16 - 16) = 33.
  close(frechetFromStats(stats([0, 0], [1, 0, 0, 4]), stats([3, 4], [9, 0, 0, 16])), 33);
  const a = pointsWith([0, 0], [1, 0], [0, 2]);
  const b = pointsWith([3, 4], [3, 0], [0, 4]);
  close(frechetDistance(a, b, 2), 33);
});

test('non-diagonal 2x2: (I [[5,4],[4,5]])^(1/2) = [[2,1],[1,2]]', () => {
  // [[2,1],[1,2]]^2 = [[5,4],[4,5]], so Tr((S1 S2)^(1/2)) = 4 and d = ||(1,2)||^2 + 2 + 10 - 8 = 9.
  const a = pointsWith([0, 0], [1, 0], [0, 1]);
  const b = pointsWith([1, 2], [2, 1], [1, 2]);
  const sb = gaussianStats(b, 2);
  assert.deepEqual(Array.from(sb.cov).map((v) => Math.round(v * 1e9) / 1e9), [5, 4, 4, 5]);
  close(frechetDistance(a, b, 2), 9);
});

test('non-diagonal, neither identity: [[2,1],[1,2]] [[2,-1],[-1,2]] = 3 I', () => {
  // (3 I)^(1/2) = sqrt(3) I, trace 2 sqrt(3); d = 4 + 4 - 4 sqrt(3).
  const s1 = stats([0, 0], [2, 1, 1, 2]);
  const s2 = stats([0, 0], [2, -1, -1, 2]);
  close(frechetFromStats(s1, s2), 8 - 4 * Math.sqrt(3));
  // The same through sample points: [[2,1],[1,2]] = 1.5 (1,1)(1,1)^T + 0.5 (1,-1)(1,-1)^T.
  const h = Math.sqrt(1.5), q = Math.sqrt(0.5);
  const a = pointsWith([0, 0], [h, h], [q, -q]);
  const b = pointsWith([0, 0], [h, -h], [q, q]);
  close(frechetDistance(a, b, 2), 8 - 4 * Math.sqrt(3));
});

test('identical sets give ~0 and d(a, b) = d(b, a)', () => {
  const rand = mulberry32(7);
  const dim = 12;
  const a = Float64Array.from({ length: 300 * dim }, () => rand() * 2 - 1);
  const b = Float64Array.from({ length: 200 * dim }, (_, i) => rand() + (i % dim) * 0.1);
  assert.ok(frechetDistance(a, a, dim) < 1e-9, 'd(a, a) should vanish');
  const ab = frechetDistance(a, b, dim);
  assert.ok(ab > 0.1, `expected distinct sets to be far apart, found ${ab}`);
  close(frechetDistance(b, a, dim), ab, 1e-9, 'symmetry');
});

test('a singular covariance takes the eigen-decomposition path and agrees with the PD path', () => {
  // Points on the line y = x: S1 = [[2,2],[2,2]] has rank 1 (no Cholesky factor).
  const line = Float64Array.from([1, 1, 3, 3]);
  const s1 = gaussianStats(line, 2);
  assert.equal(choleskyFactor(new Matrix([Array.from(s1.cov.subarray(0, 2)), Array.from(s1.cov.subarray(2))])), undefined);
  // S2 = I: Tr((S1)^(1/2)) = sqrt(4) = 2; d = ||(2,2)||^2 + 4 + 2 - 4 = 10.
  const s2 = stats([0, 0], [1, 0, 0, 1]);
  close(frechetFromStats(s1, s2), 10);
  close(frechetFromStats(s2, s1), 10);
});

test('both covariances singular: Tr((u u^T v v^T)^(1/2)) = |u . v|', () => {
  // {(1,1), (3,3)}: mean (2,2), S1 = u u^T with u = sqrt(2) (1,1). {(0,5), (2,5)}: mean (1,5),
  // S2 = v v^T with v = sqrt(2) (1,0). u u^T v v^T = (u . v) u v^T has the one eigenvalue (u . v)^2,
  // so the cross term is |u . v| = 2 and d = ||(1,-3)||^2 + 4 + 2 - 2 * 2 = 12.
  const a = Float64Array.from([1, 1, 3, 3]);
  const b = Float64Array.from([0, 5, 2, 5]);
  close(frechetDistance(a, b, 2), 12);
  close(frechetDistance(b, a, 2), 12);
  // Orthogonal directions: S1 S2 = 0, no cross term; d = ||(1,1)||^2 + 4 + 2 = 8.
  close(frechetFromStats(stats([1, 1], [2, 2, 2, 2]), stats([0, 0], [1, -1, -1, 1])), 2 + 4 + 2);
});

const toMatrix = (s: GaussianStats): Matrix =>
  new Matrix(Array.from({ length: s.dim }, (_, i) => Array.from(s.cov.subarray(i * s.dim, (i + 1) * s.dim))));

/** The textbook route: sqrt(S1) = V sqrt(L) V^T, Tr((S1 S2)^(1/2)) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1))). */
function referenceFrechet(sa: GaussianStats, sb: GaussianStats): number {
  const evd = new EigenvalueDecomposition(toMatrix(sa), { assumeSymmetric: true });
  const root = evd.eigenvectorMatrix.mmulByTranspose(evd.realEigenvalues.map((l) => Math.sqrt(Math.max(l, 0))));
  const m = root.mmul(toMatrix(sb)).mmul(root);
  const cross = new EigenvalueDecomposition(m.add(m.transpose()).div(2), { assumeSymmetric: true })
    .realEigenvalues.reduce((t, l) => t + Math.sqrt(Math.max(l, 0)), 0);
  let meanTerm = 0;
  for (let j = 0; j < sa.dim; j++) meanTerm += (sa.mean[j] - sb.mean[j]) ** 2;
  return meanTerm + toMatrix(sa).trace() + toMatrix(sb).trace() - 2 * cross;
}

/** n rows of dim features: uniform noise with column-dependent scale and offset. */
function randomFeatures(seed: number, n: number, dim: number): Float64Array {
  const rand = mulberry32(seed);
  return Float64Array.from({ length: n * dim }, (_, i) => (rand() - 0.3) * (1 + (i % dim) / dim) + (i % 3) * 0.1);
}

test('random 8-d Gaussians: equals the textbook sqrtm route through ml-matrix', () => {
  const dim = 8;
  const sa = gaussianStats(randomFeatures(21, 60, dim), dim), sb = gaussianStats(randomFeatures(22, 50, dim), dim);
  close(frechetFromStats(sa, sb), referenceFrechet(sa, sb), 1e-10);
  // Fewer rows than features on both sides: both covariances are singular (rank 4 and 5).
  const ta = gaussianStats(randomFeatures(23, 5, dim), dim), tb = gaussianStats(randomFeatures(24, 6, dim), dim);
  assert.equal(choleskyFactor(toMatrix(ta)), undefined);
  assert.equal(choleskyFactor(toMatrix(tb)), undefined);
  close(frechetFromStats(ta, tb), referenceFrechet(ta, tb), 1e-6, 'both singular');
});

test('256-d random PSD pair: completes and equals the textbook sqrtm route', () => {
  // The workshop classifier has 1024 features; 256 keeps the test fast on the same code path.
  const dim = 256;
  const sa = gaussianStats(randomFeatures(31, 400, dim), dim), sb = gaussianStats(randomFeatures(32, 300, dim), dim);
  assert.ok(choleskyFactor(toMatrix(sa)) !== undefined, 'S1 from 400 rows should be positive definite');
  const d = frechetFromStats(sa, sb);
  assert.ok(d > 0.1, `expected distinct sets to be far apart, found ${d}`);
  close(d, referenceFrechet(sa, sb), 1e-9);
  close(frechetFromStats(sb, sa), d, 1e-9, 'symmetry');
});

test('rejects features whose length is not a multiple of the dimension', () => {
  assert.throws(() => gaussianStats(new Float32Array(7), 2), /multiple of 2/);
  assert.throws(() => gaussianStats(new Float32Array(2), 2), /at least 2 rows/);
});
