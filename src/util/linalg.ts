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
