/**
 * The little dense linear algebra the Gaussian-based methods need (Mahalanobis, VOS), in double
 * precision on plain arrays: d is at most a few hundred, and doubles keep the Cholesky factor of a
 * nearly singular covariance meaningful where float32 would not.
 * Matrices are row-major Float64Arrays of n*n values. Eigen- and singular-value decompositions come
 * from ml-matrix (pure JS, Householder + QL / Golub–Kahan), only ever needed when fitting.
 */
import { EigenvalueDecomposition, Matrix as MlMatrix, pseudoInverse as mlPseudoInverse } from 'ml-matrix';
import { AresError } from '../errors.js';
import type { Matrix } from '../scores/types.js';

/** Lower-triangular L with L·Lᵀ = a, or null when a is not (numerically) positive definite or holds non-finite values. */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j];
      }
    }
  }
  return L;
}

/**
 * Cholesky of a + λ·I with the smallest λ in {0 or `minJitter`, then ×10 steps from 1e-10·mean(diag)}
 * that works, so a covariance that rounding made indefinite still gets a factor. Returns the λ used.
 */
export function choleskyWithJitter(a: Float64Array, n: number, minJitter = 0): { L: Float64Array; jitter: number } {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i];
  const scale = trace > 0 ? trace / n : 1;
  let jitter = minJitter;
  for (let attempt = 0; attempt < 20; attempt++) {
    const b = jitter > 0 ? addDiagonal(a, n, jitter) : a;
    const L = cholesky(b, n);
    if (L) return { L, jitter };
    jitter = Math.max(jitter * 10, 1e-10 * scale);
  }
  throw new AresError(`covariance matrix (${n}×${n}) is not positive definite even with ${jitter.toExponential(1)}·I added`);
}

export function addDiagonal(a: Float64Array, n: number, lambda: number): Float64Array {
  const b = Float64Array.from(a);
  for (let i = 0; i < n; i++) b[i * n + i] += lambda;
  return b;
}

/** Solves L·y = b for y (forward substitution); writes into `out` and returns it. */
export function solveLower(L: Float64Array, n: number, b: ArrayLike<number>, out = new Float64Array(n)): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * out[k];
    out[i] = s / L[i * n + i];
  }
  return out;
}

export interface ClassGaussians {
  numClasses: number;
  dim: number;
  /** μ_c: [K, d] */
  means: Float64Array;
  /** Samples per class. */
  counts: Int32Array;
  /** Tied (shared) covariance of the class-centred samples, divided by N (the MLE): [d, d] */
  covariance: Float64Array;
}

/**
 * Class means and the tied covariance Σ = (1/N)·Σ_c Σ_{i in c} (x_i − μ_c)(x_i − μ_c)ᵀ, the Gaussian
 * discriminant model of Lee et al. (2018) and of VOS. Every class must have at least one sample.
 */
export function classGaussians(x: Matrix, labels: ArrayLike<number>, numClasses: number): ClassGaussians {
  const { data, rows, cols: d } = x;
  const means = new Float64Array(numClasses * d);
  const counts = new Int32Array(numClasses);
  for (let r = 0; r < rows; r++) {
    const c = labels[r];
    counts[c]++;
    for (let j = 0; j < d; j++) means[c * d + j] += data[r * d + j];
  }
  for (let c = 0; c < numClasses; c++) {
    if (counts[c] === 0) throw new AresError(`class ${c} has no samples: cannot estimate its mean`);
    for (let j = 0; j < d; j++) means[c * d + j] /= counts[c];
  }
  const covariance = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const c = labels[r];
    for (let j = 0; j < d; j++) centred[j] = data[r * d + j] - means[c * d + j];
    for (let i = 0; i < d; i++) {
      const xi = centred[i];
      if (xi === 0) continue;
      for (let j = 0; j <= i; j++) covariance[i * d + j] += xi * centred[j];
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      covariance[i * d + j] /= rows;
      covariance[j * d + i] = covariance[i * d + j];
    }
  }
  return { numClasses, dim: d, means, counts, covariance };
}

/**
 * Where the features' numerical span ends. An eigenvalue of a feature covariance at or below the
 * cut-off is rounding noise or an exact collinearity, not variance: inverting it is what turned
 * rank-deficient fits into scores of −1e12. Two floors, the larger wins:
 * - relative: 1e-10·λ_max, a condition number of at most 1e10, so that a Cholesky solve on what is
 *   kept loses at most ~6 of float64's 16 digits (std ratio 1e-5: ~85 float32 ulps, far below any
 *   variance a network's features carry on purpose);
 * - float32 rounding: features arrive as float32, whose rounding error per value has variance
 *   ≤ 2⁻⁴⁶·x²/12; an exact collinearity then leaves an eigenvalue of at most that size (a mix of the
 *   features' errors), so 2⁻⁴⁶·max_j mean(x_j²) is at least 12× above it, also for features with a
 *   large mean and a small spread.
 */
export function spanCutoff(lambdaMax: number, maxMeanSquare: number): number {
  return Math.max(1e-10 * lambdaMax, 2 ** -46 * maxMeanSquare);
}

/** The largest mean(x_j²) over the columns j of `x` (all, or those in `cols`): the raw scale of the values. */
export function maxMeanSquare(x: Matrix, cols?: ArrayLike<number>): number {
  const list = cols ?? Array.from({ length: x.cols }, (_, j) => j);
  let best = 0;
  for (let t = 0; t < list.length; t++) {
    const j = list[t];
    let s = 0;
    for (let r = 0; r < x.rows; r++) { const v = x.data[r * x.cols + j]; s += v * v; }
    best = Math.max(best, s / Math.max(1, x.rows));
  }
  return best;
}

/** How many of the (descending) eigenvalues lie above `cutoff`. */
export function numericalRank(values: Float64Array, cutoff: number): number {
  let r = 0;
  while (r < values.length && values[r] > cutoff) r++;
  return r;
}

/**
 * A lower bound on the smallest eigenvalue of a = L·Lᵀ, from its Cholesky factor: 1/trace(a⁻¹) =
 * 1/‖L⁻¹‖_F² ≤ λ_min. O(n³/6), a few times cheaper than an eigen-decomposition, so a covariance
 * that is clearly full rank skips that.
 */
export function minEigenLowerBound(L: Float64Array, n: number): number {
  const col = new Float64Array(n);
  let frob = 0;
  for (let j = 0; j < n; j++) {
    // Column j of L⁻¹: forward substitution on e_j, which is zero above row j.
    for (let i = j; i < n; i++) {
      let s = i === j ? 1 : 0;
      for (let k = j; k < i; k++) s -= L[i * n + k] * col[k];
      col[i] = s / L[i * n + i];
      frob += col[i] * col[i];
    }
  }
  return frob > 0 && Number.isFinite(frob) ? 1 / frob : 0;
}

/** A covariance made invertible on the features' numerical span (see liftNullSpace). */
export interface LiftedCovariance {
  /** Σ itself when it is full rank, else Σ + lift. */
  cov: Float64Array;
  /** Numerical rank of Σ (n when full rank). */
  rank: number;
  /** What was added: (floor − λ_k)·v_k v_kᵀ over the eigenpairs k below the cut-off; null when none. */
  lift: Float64Array | null;
  /** The variance the directions off the span were given: Σ's smallest eigenvalue above the cut-off (0 when full rank). */
  floor: number;
}

/**
 * Σ with every eigenvalue at or below spanCutoff raised to the smallest one above it. On the span of
 * the training features this is Σ itself (what a pseudo-inverse uses); off the span, where the
 * training data show no variance at all, a move costs as much as the same move along the span's
 * least-varying direction. A plain pseudo-inverse would charge nothing there (an outlier off the span
 * would look in-distribution); a tiny jitter would charge 1/jitter (every fresh ID point, which is
 * never exactly in the span of fewer rows than dimensions, would score ~−1e12).
 * `maxRank`: a bound known from how Σ was made (rows − classes); below n, Σ is certainly deficient.
 * A Σ that is clearly full rank (Cholesky's 1/trace(Σ⁻¹) above the cut-off) comes back unchanged
 * without an eigen-decomposition.
 */
export function liftNullSpace(cov: Float64Array, n: number, meanSquare: number, maxRank = n): LiftedCovariance {
  if (maxRank >= n) {
    const L = cholesky(cov, n);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += cov[i * n + i];
    // trace ≥ λ_max, so this cut-off is at least the real one: passing it proves full rank.
    if (L && minEigenLowerBound(L, n) > spanCutoff(trace, meanSquare)) return { cov, rank: n, lift: null, floor: 0 };
  }
  const { values, vectors } = symmetricEigen(cov, n);
  const rank = numericalRank(values, spanCutoff(values[0], meanSquare));
  if (rank === n || rank === 0) return { cov, rank, lift: null, floor: 0 };
  const floor = values[rank - 1];
  const lift = new Float64Array(n * n);
  for (let k = rank; k < n; k++) {
    const w = floor - values[k];
    for (let i = 0; i < n; i++) {
      const vi = w * vectors[i * n + k];
      if (vi === 0) continue;
      for (let j = 0; j <= i; j++) lift[i * n + j] += vi * vectors[j * n + k];
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      lift[j * n + i] = lift[i * n + j];
      out[i * n + j] = cov[i * n + j] + lift[i * n + j];
      out[j * n + i] = out[i * n + j];
    }
  }
  return { cov: out, rank, lift, floor };
}

/** Rows of a row-major [rows, cols] array as ml-matrix wants them. */
function toMl(a: ArrayLike<number>, rows: number, cols: number): MlMatrix {
  const m = new MlMatrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, a[i * cols + j]);
  return m;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix: eigenvalues in DESCENDING order, and the matching
 * unit eigenvectors as the columns of `vectors` (row-major n×n).
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const e = new EigenvalueDecomposition(toMl(a, n, n), { assumeSymmetric: true });
  const raw = e.realEigenvalues;
  const V = e.eigenvectorMatrix;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => raw[j] - raw[i] || i - j);
  const values = Float64Array.from(order, (i) => raw[i]);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) vectors[r * n + c] = V.get(r, order[c]);
  return { values, vectors };
}

/** Moore–Penrose pseudo-inverse of a row-major [rows, cols] matrix: [cols, rows], row-major. */
export function pseudoInverse(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const p = mlPseudoInverse(toMl(a, rows, cols));
  const out = new Float64Array(cols * rows);
  for (let i = 0; i < cols; i++) for (let j = 0; j < rows; j++) out[i * rows + j] = p.get(i, j);
  return out;
}
