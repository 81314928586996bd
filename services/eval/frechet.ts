// The Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017, "FID"):
//   d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))
// computed in float64. (S1 S2)^(1/2) is never formed: with any factor S1 = A A^T, the matrix
// M = A^T S2 A is symmetric PSD and similar to S1 S2, so Tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(M)),
// with M's eigenvalues below its round-off level taken as 0. A is the Cholesky factor of whichever
// of S1, S2 is positive definite (the trace is symmetric in them), else V sqrt(L) of S1's
// eigen-decomposition. All decompositions and products are ml-matrix's; for the workshop
// classifier's 1024 features the symmetric eigen-decomposition of M (with eigenvectors, which
// ml-matrix always computes) is most of the cost.
import { CholeskyDecomposition, EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { EvalInputError } from './errors.ts';

/** Mean (F) and unbiased covariance (F x F, row-major), as numpy's np.mean(x, 0) and np.cov(x, rowvar=False). */
export interface GaussianStats {
  readonly dim: number;
  readonly count: number;
  readonly mean: Float64Array;
  readonly cov: Float64Array;
}

type Features = Float32Array | Float64Array;

function checkFeatures(x: Features, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim <= 0) throw new EvalInputError(`${what}: feature dimension must be a positive integer, found ${dim}`);
  if (x.length % dim !== 0) {
    throw new EvalInputError(`${what}: expected N x ${dim} values (row-major), found ${x.length}, not a multiple of ${dim}`);
  }
  const n = x.length / dim;
  if (n < 2) throw new EvalInputError(`${what}: the covariance needs at least 2 rows, found ${n}`);
  return n;
}

/** Fits a Gaussian to the rows of x (N x F row-major). Two passes: the mean, then centred outer products. */
export function gaussianStats(x: Features, dim: number, what = 'features'): GaussianStats {
  const n = checkFeatures(x, dim, what);
  const mean = new Float64Array(dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) mean[j] += x[r * dim + j];
  for (let j = 0; j < dim; j++) mean[j] /= n;
  assertFinite(mean, `${what} mean`);
  const cov = new Float64Array(dim * dim);
  for (let r0 = 0; r0 < n; r0 += CHUNK_ROWS) accumulateChunk(x, mean, r0, Math.min(n, r0 + CHUNK_ROWS), cov);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j] / (n - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { dim, count: n, mean, cov };
}

// Rows per block of the covariance sum: a (F, 64) float64 block of the workshop classifier's
// 1024 features is 512 KiB and stays in cache while the F^2 / 2 dot products run over it.
const CHUNK_ROWS = 64;

/** cov[i, j >= i] += sum over rows r0..r1 of (x_ri - mean_i)(x_rj - mean_j), via a transposed block. */
function accumulateChunk(x: Features, mean: Float64Array, r0: number, r1: number, cov: Float64Array): void {
  const dim = mean.length;
  const rows = r1 - r0;
  const t = new Float64Array(dim * rows); // (F, rows): column j of the centred block is row j of t
  for (let r = 0; r < rows; r++) {
    const o = (r0 + r) * dim;
    for (let j = 0; j < dim; j++) t[j * rows + r] = x[o + j] - mean[j];
  }
  let i = 0;
  for (; i + 1 < dim; i += 2) {
    // Row pair (i, i + 1): the 2 x 1 corner, then 2 x 4 tiles (8 sums per 6 loads) and a tail.
    cov[i * dim + i] += dot(t, i * rows, i * rows, rows);
    let j = i + 1;
    for (; j + 3 < dim; j += 4) tile2x4(t, rows, i, j, cov, dim);
    for (; j < dim; j++) {
      cov[i * dim + j] += dot(t, i * rows, j * rows, rows);
      cov[(i + 1) * dim + j] += dot(t, (i + 1) * rows, j * rows, rows);
    }
  }
  for (; i < dim; i++) for (let j = i; j < dim; j++) cov[i * dim + j] += dot(t, i * rows, j * rows, rows);
}

function dot(t: Float64Array, a: number, b: number, len: number): number {
  let acc = 0;
  for (let r = 0; r < len; r++) acc += t[a + r] * t[b + r];
  return acc;
}

/** cov[i..i+1, j..j+3] += the 8 dot products of rows i, i + 1 with rows j..j+3 of t. */
function tile2x4(t: Float64Array, rows: number, i: number, j: number, cov: Float64Array, dim: number): void {
  const u0 = i * rows, u1 = u0 + rows;
  const t0 = j * rows, t1 = t0 + rows, t2 = t1 + rows, t3 = t2 + rows;
  let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  for (let r = 0; r < rows; r++) {
    const v = t[u0 + r], w = t[u1 + r];
    const x0 = t[t0 + r], x1 = t[t1 + r], x2 = t[t2 + r], x3 = t[t3 + r];
    a0 += v * x0; a1 += v * x1; a2 += v * x2; a3 += v * x3;
    b0 += w * x0; b1 += w * x1; b2 += w * x2; b3 += w * x3;
  }
  const ci = i * dim + j, cn = ci + dim;
  cov[ci] += a0; cov[ci + 1] += a1; cov[ci + 2] += a2; cov[ci + 3] += a3;
  // Row i + 1 only needs columns >= i + 1; j >= i + 1 always holds here.
  cov[cn] += b0; cov[cn + 1] += b1; cov[cn + 2] += b2; cov[cn + 3] += b3;
}

function assertFinite(values: Float64Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new EvalInputError(`${what}: entry ${i} is ${values[i]}, expected a finite number`);
  }
}

/** The (n, n) matrix of a row-major covariance, made exactly symmetric: (C + C^T) / 2. */
function symmetricMatrix(data: Float64Array, n: number): Matrix {
  const m = Matrix.from1DArray(n, n, data);
  // CholeskyDecomposition rejects a matrix that is not exactly symmetric, and products that are
  // symmetric in exact arithmetic are not in float64.
  return m.add(m.transpose()).div(2);
}

/**
 * Lower-triangular L with S = L L^T, or undefined when S is not numerically positive definite.
 * ml-matrix only asks each pivot L_jj^2 to be > 0; a pivot <= n * eps * max diagonal counts as zero
 * here, so rank-deficient covariances go to the eigen-decomposition path instead of producing a
 * factor dominated by round-off.
 */
export function choleskyFactor(s: Matrix): Matrix | undefined {
  const chol = new CholeskyDecomposition(s);
  if (!chol.isPositiveDefinite()) return undefined;
  const l = chol.lowerTriangularMatrix;
  const tiny = s.rows * Number.EPSILON * Math.max(...s.diag());
  for (let j = 0; j < s.rows; j++) if (!(l.get(j, j) ** 2 > tiny)) return undefined;
  return l;
}

/** V sqrt(max(L, 0)) of the symmetric eigen-decomposition: a factor A A^T = S of any PSD S. */
function eigenFactor(s: Matrix): Matrix {
  const evd = new EigenvalueDecomposition(s, { assumeSymmetric: true });
  const a = evd.eigenvectorMatrix;
  evd.realEigenvalues.forEach((l, k) => a.mulColumn(k, Math.sqrt(Math.max(l, 0))));
  return a;
}

/** ||S||_inf, the largest absolute row sum: an upper bound of ||S||_2 for a symmetric S. */
function normInf(s: Matrix): number {
  return Math.max(...s.clone().abs().sum('row'));
}

/**
 * sum_i sqrt(lambda_i(A^T S A)) for a factor A A^T = F of the other covariance F and a symmetric S.
 * Eigenvalues below M's round-off level, n * eps * ||F|| * ||S||, are zeros in exact arithmetic:
 * their square roots (~1e-8 for 1e-16) would otherwise dominate the error when S1 S2 is (nearly)
 * rank-deficient. The level is taken from F and S, not from M, because M itself may be ~0.
 */
function sumSqrtEigenvalues(a: Matrix, f: Matrix, s: Matrix): number {
  // X = A^T S, and S A = X^T since S is symmetric, so M = A^T X^T. transposeMultiply streams rows
  // and skips the zeros of a triangular A: ~5x faster than transpose().mmul() for F = 1024.
  const x = a.transposeMultiply(s);
  const m = a.transposeMultiply(x.transpose());
  const lambdas = new EigenvalueDecomposition(m.add(m.transpose()).div(2), { assumeSymmetric: true }).realEigenvalues;
  const floor = m.rows * Number.EPSILON * normInf(f) * normInf(s);
  let t = 0;
  for (const lambda of lambdas) if (lambda > floor) t += Math.sqrt(lambda);
  return t;
}

/**
 * Tr((S1 S2)^(1/2)) for symmetric PSD S1, S2. Tr((S1 S2)^(1/2)) = Tr((S2 S1)^(1/2)), so either side
 * may be factored: the first positive definite one gets a (cheap, lower-triangular) Cholesky
 * factor; a generator's covariance from fewer samples than features is singular, the reference
 * one usually is not. Only when both are singular is S1 eigen-decomposed.
 */
export function traceSqrtProduct(s1: Matrix, s2: Matrix): number {
  const l1 = choleskyFactor(s1);
  if (l1) return sumSqrtEigenvalues(l1, s1, s2);
  const l2 = choleskyFactor(s2);
  if (l2) return sumSqrtEigenvalues(l2, s2, s1);
  return sumSqrtEigenvalues(eigenFactor(s1), s1, s2);
}

function checkStats(s: GaussianStats, what: string): void {
  if (!Number.isInteger(s.dim) || s.dim <= 0) throw new EvalInputError(`${what}: dim must be a positive integer, found ${s.dim}`);
  if (s.mean.length !== s.dim || s.cov.length !== s.dim * s.dim) {
    throw new EvalInputError(`${what}: expected a mean of ${s.dim} and a covariance of ${s.dim * s.dim} values, found ${s.mean.length} and ${s.cov.length}`);
  }
  assertFinite(s.mean, `${what} mean`);
  assertFinite(s.cov, `${what} covariance`);
}

/**
 * The Fréchet distance between two fitted Gaussians. Clamped at 0: a tiny negative value is
 * round-off between (near-)identical distributions, never a meaningful distance.
 */
export function frechetFromStats(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new EvalInputError(`Fréchet distance: feature dimensions differ (${a.dim} vs ${b.dim})`);
  checkStats(a, 'Fréchet distance: first Gaussian');
  checkStats(b, 'Fréchet distance: second Gaussian');
  let meanTerm = 0;
  for (let j = 0; j < a.dim; j++) meanTerm += (a.mean[j] - b.mean[j]) ** 2;
  const s1 = symmetricMatrix(a.cov, a.dim);
  const s2 = symmetricMatrix(b.cov, b.dim);
  const d = meanTerm + s1.trace() + s2.trace() - 2 * traceSqrtProduct(s1, s2);
  return Math.max(d, 0);
}

/** Fréchet distance between the Gaussians fitted to a (N1 x F) and b (N2 x F), both row-major. */
export function frechetDistance(a: Features, b: Features, dim: number): number {
  return frechetFromStats(gaussianStats(a, dim, 'features a'), gaussianStats(b, dim, 'features b'));
}
