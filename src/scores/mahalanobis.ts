import { AresError, NotFittedError } from '../errors.js';
import { checkLabels, type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn, readMatrix } from './types.js';
import { choleskyWithJitter, classGaussians, solveLower } from '../util/linalg.js';
import { decodeF64, encodeF64 } from './codec.js';

/** What Mahalanobis learns from ID training features. Plain typed arrays, so it can be saved as JSON. */
export interface MahalanobisState {
  numClasses: number;
  /** Width of the features it was fitted on. */
  dim: number;
  /** Feature dimensions used: those with non-zero variance on the training data (see below). */
  kept: Int32Array;
  /** Class means on the kept dimensions: [K, kept.length]. */
  means: Float64Array;
  /** Cholesky factor L of the tied covariance (+ jitter·I) on the kept dimensions. */
  chol: Float64Array;
  /** λ added to the diagonal to make the factorisation succeed (0 when none was needed). */
  jitter: number;
}

/**
 * Mahalanobis (Lee et al., 2018) on the penultimate features, without their input preprocessing or
 * feature ensemble: class means μ_c and one tied covariance Σ fitted on ID training features;
 * score = −min_c (h − μ_c)ᵀ Σ⁻¹ (h − μ_c), the squared distance as in that paper (the ranking, and so
 * every metric, is the same as with the distance itself).
 * Feature dimensions that are constant on the training data (dead ReLU units) are left out: their
 * variance is 0, Σ⁻¹ does not exist there, and they say nothing about the classes. This is what the
 * paper's pseudo-inverse does for such dimensions. If rounding still leaves Σ indefinite, the smallest
 * jitter·I that allows a Cholesky factor is added (recorded in the state).
 */
export function mahalanobis(): Detector<OutputsIn, LabelledOutputsIn, MahalanobisState> {
  let state: MahalanobisState | null = null;
  let whitenedMeans: Float64Array | null = null;
  const setState = (s: MahalanobisState) => {
    state = s;
    whitenedMeans = whitenMeans(s);
  };
  return {
    name: 'mahalanobis', params: {}, requiresFit: true,
    get state() { return state; },
    fit(data) {
      setState(fitMahalanobis(data));
      return this;
    },
    restore(s) {
      setState(s);
      return this;
    },
    score(input) {
      if (!state || !whitenedMeans) throw new NotFittedError('mahalanobis');
      if (!input.features) throw new AresError('mahalanobis scores penultimate features; the outputs have none');
      const x = readMatrix(input.features, 'mahalanobis features');
      if (x.cols !== state.dim) throw new AresError(`mahalanobis was fitted on ${state.dim}-d features, got ${x.cols}-d`);
      return scoreRows(state, whitenedMeans, x);
    },
  };
}

function fitMahalanobis(data: LabelledOutputsIn): MahalanobisState {
  if (!data.features) throw new AresError('mahalanobis is fitted on penultimate features; the outputs have none');
  const x = readMatrix(data.features, 'mahalanobis features');
  const numClasses = readMatrix(data.logits, 'mahalanobis logits').cols;
  checkLabels(data.labels, x.rows, numClasses, 'mahalanobis fit');
  const seen = seenClassLabels(data.labels, numClasses);
  return fitGaussians(x, seen.labels, seen.count);
}

/**
 * Labels renumbered over the classes that have training rows. A model may have outputs the ID data
 * has no images of (ares fit on a subset of its classes); such a class has no mean to estimate, so
 * the class-conditional scores (this one, RMDS) take their minimum over the classes that were seen.
 */
export function seenClassLabels(labels: ArrayLike<number>, numClasses: number): { labels: Int32Array; count: number } {
  const index = new Int32Array(numClasses).fill(-1);
  for (let i = 0; i < labels.length; i++) index[labels[i]] = 0;
  let count = 0;
  for (let c = 0; c < numClasses; c++) if (index[c] === 0) index[c] = count++;
  return { labels: Int32Array.from(labels, (c) => index[c]), count };
}

/**
 * Class means and the Cholesky factor of their tied covariance on the features that vary (see
 * mahalanobis()), or on `kept` when given. With numClasses = 1 and every label 0, the one
 * class-agnostic Gaussian of all the data (RMDS's background).
 */
export function fitGaussians(x: Matrix, labels: ArrayLike<number>, numClasses: number, kept?: Int32Array): MahalanobisState {
  const g = classGaussians(x, labels, numClasses);
  const d = g.dim;
  if (!kept) {
    let maxVar = 0;
    for (let i = 0; i < d; i++) maxVar = Math.max(maxVar, g.covariance[i * d + i]);
    const keptList: number[] = [];
    for (let i = 0; i < d; i++) if (g.covariance[i * d + i] > 1e-12 * maxVar) keptList.push(i);
    if (keptList.length === 0) throw new AresError('mahalanobis: every feature is constant on the training data');
    kept = Int32Array.from(keptList);
  }
  const m = kept.length;
  const cov = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) cov[i * m + j] = g.covariance[kept[i] * d + kept[j]];
  const means = new Float64Array(numClasses * m);
  for (let c = 0; c < numClasses; c++) for (let i = 0; i < m; i++) means[c * m + i] = g.means[c * d + kept[i]];
  const { L, jitter } = choleskyWithJitter(cov, m);
  return { numClasses, dim: d, kept, means, chol: L, jitter };
}

/** L⁻¹μ_c for every class, so that a distance is ‖L⁻¹h − L⁻¹μ_c‖². */
export function whitenMeans(s: MahalanobisState): Float64Array {
  const m = s.kept.length;
  const out = new Float64Array(s.numClasses * m);
  for (let c = 0; c < s.numClasses; c++) {
    solveLower(s.chol, m, s.means.subarray(c * m, (c + 1) * m), out.subarray(c * m, (c + 1) * m));
  }
  return out;
}

function scoreRows(s: MahalanobisState, wm: Float64Array, x: Matrix): Float64Array {
  const out = minSquaredDistances(s, wm, x);
  for (let r = 0; r < out.length; r++) out[r] = -out[r];
  return out;
}

/** min_c (h − μ_c)ᵀ Σ⁻¹ (h − μ_c) per row, on the state's kept features; `wm` = whitenMeans(s). */
export function minSquaredDistances(s: MahalanobisState, wm: Float64Array, x: Matrix): Float64Array {
  const m = s.kept.length;
  const h = new Float64Array(m);
  const z = new Float64Array(m);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < m; i++) h[i] = x.data[r * x.cols + s.kept[i]];
    solveLower(s.chol, m, h, z);
    let best = Infinity;
    for (let c = 0; c < s.numClasses; c++) {
      let d2 = 0;
      for (let i = 0; i < m; i++) { const t = z[i] - wm[c * m + i]; d2 += t * t; }
      if (d2 < best) best = d2;
    }
    out[r] = best;
  }
  return out;
}

/**
 * The state as plain JSON, e.g. for a run folder: number lists, or with `compact` the float arrays as
 * base64 float64 (exactly the same values, ~half the bytes; what detector.json stores).
 */
export function mahalanobisStateToJson(s: MahalanobisState, opts: { compact?: boolean } = {}): Record<string, unknown> {
  const floats = (a: Float64Array) => (opts.compact ? encodeF64(a) : Array.from(a));
  return { numClasses: s.numClasses, dim: s.dim, kept: Array.from(s.kept), means: floats(s.means), chol: floats(s.chol), jitter: s.jitter };
}

/** Inverse of mahalanobisStateToJson (either form), checking the sizes fit together. `file` names the source in errors. */
export function mahalanobisStateFromJson(json: unknown, file?: string, what = 'mahalanobis state'): MahalanobisState {
  const o = json as Record<string, unknown>;
  const nums = (k: string) => {
    const v = o?.[k];
    if (!Array.isArray(v) || !v.every((e) => typeof e === 'number')) throw new AresError(`${what}: "${k}" is not a list of numbers`, { file });
    return v as number[];
  };
  const floats = (k: string, length: number) => {
    if (typeof o?.[k] !== 'string') return Float64Array.from(nums(k));
    try {
      return decodeF64(o[k], length, k);
    } catch (err) {
      throw new AresError(`${what}: ${(err as Error).message}`, { file });
    }
  };
  const numClasses = Number(o?.numClasses), dim = Number(o?.dim), jitter = Number(o?.jitter ?? 0);
  const kept = Int32Array.from(nums('kept'));
  const m = kept.length;
  const s: MahalanobisState = { numClasses, dim, kept, means: floats('means', numClasses * m), chol: floats('chol', m * m), jitter };
  if (!(numClasses >= 1) || !(dim >= m) || m < 1 || s.means.length !== numClasses * m || s.chol.length !== m * m || kept.some((k) => k < 0 || k >= dim)) {
    throw new AresError(`${what}: sizes do not fit together (numClasses, dim, kept, means, chol)`, { file });
  }
  for (let i = 0; i < m; i++) if (!(s.chol[i * m + i] > 0)) throw new AresError(`${what}: the Cholesky factor's diagonal must be positive`, { file });
  return s;
}
