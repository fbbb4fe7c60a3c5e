import { AresError, NotFittedError } from '../errors.js';
import { checkLabels, type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn, readMatrix } from './types.js';
import { choleskyWithJitter, classGaussians, liftNullSpace, maxMeanSquare, solveLower } from '../util/linalg.js';
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
 * paper's pseudo-inverse does for such dimensions.
 *
 * Rank-deficient Σ (fewer training rows than dimensions: rank ≤ N − K; duplicated rows; collinear
 * features). Σ⁻¹ does not exist, and the smallest jitter that allows a Cholesky factor weighs the
 * missing directions by ~1/jitter: a fresh ID point, never exactly in the span of the training rows,
 * scored around −1e12, far below outliers inside the span (90 rows of 256-d features). The options:
 * - pseudo-inverse (OpenOOD, pytorch-ood): exact on the span, but it charges nothing for the part of
 *   h − μ_c off the span, so an outlier off the span looks as ID as its projection;
 * - shrinkage (Ledoit–Wolf, Σ + ρ·tr(Σ)/d·I): sensible everywhere, but it changes every full-rank
 *   result too (ρ ~ d/N is not small for typical N and d);
 * - chosen: the eigen-decomposition of Σ, with the directions whose eigenvalue is at or below a
 *   relative cut-off (see spanCutoff in util/linalg.ts) given the smallest eigenvalue above it
 *   (liftNullSpace). On the span this is exactly the pseudo-inverse; off it, a move costs as much as
 *   the same move along the span's least-varying direction, so an outlier off the span is never
 *   cheaper than one in it. A full-rank Σ is not touched (same state, same scores, to the bit).
 * The lifted Σ is positive definite with a condition number ≤ 1e10, so it is stored as before, as a
 * Cholesky factor: the state's JSON, and every reader of it (detector.json, an exported bundle), are
 * unchanged. fit() leaves one warning line in `warnings` when it happens. If rounding still leaves Σ
 * indefinite, the smallest jitter·I that allows a Cholesky factor is added (recorded in the state).
 */
export function mahalanobis(): Detector<OutputsIn, LabelledOutputsIn, MahalanobisState> {
  let state: MahalanobisState | null = null;
  let whitenedMeans: Float64Array | null = null;
  let warnings: string[] = [];
  const setState = (s: MahalanobisState) => {
    state = s;
    whitenedMeans = whitenMeans(s);
  };
  return {
    name: 'mahalanobis', params: {}, requiresFit: true,
    get state() { return state; },
    get warnings() { return warnings; },
    fit(data) {
      const { x, labels, numClasses } = readFitData(data, 'mahalanobis');
      const g = fitGaussians(x, labels, numClasses);
      warnings = g.rank < g.state.kept.length ? [rankWarning('mahalanobis', x, g.rank,
        `distances use the ${g.rank}-dimensional span of the class-centred training features; a move off it costs as much as one along its least-varying direction`)] : [];
      setState(g.state);
      return this;
    },
    restore(s) {
      setState(s);
      warnings = [];
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

/**
 * The features, checked against the labels, with the labels renumbered over the classes that have
 * training rows (`numClasses` counts those). A model may have outputs the ID data has no images of
 * (ares fit on a subset of its classes); such a class has no mean to estimate, so the
 * class-conditional scores (this one, RMDS) take their minimum over the classes that were seen.
 */
export function readFitData(data: LabelledOutputsIn, name: string): { x: Matrix; labels: Int32Array; numClasses: number } {
  if (!data.features) throw new AresError(`${name} is fitted on penultimate features; the outputs have none`);
  const x = readMatrix(data.features, `${name} features`);
  const outputs = readMatrix(data.logits, `${name} logits`).cols;
  checkLabels(data.labels, x.rows, outputs, `${name} fit`);
  const seen = seenClassLabels(data.labels, outputs);
  return { x, labels: seen.labels, numClasses: seen.count };
}

/** Labels renumbered over the classes that have training rows. */
export function seenClassLabels(labels: ArrayLike<number>, numClasses: number): { labels: Int32Array; count: number } {
  const index = new Int32Array(numClasses).fill(-1);
  for (let i = 0; i < labels.length; i++) index[labels[i]] = 0;
  let count = 0;
  for (let c = 0; c < numClasses; c++) if (index[c] === 0) index[c] = count++;
  return { labels: Int32Array.from(labels, (c) => index[c]), count };
}

/** The one warning line for a rank-deficient fit; `what` says what the score does with the span. */
export function rankWarning(name: string, x: Matrix, rank: number, what: string): string {
  return `${name}: ${x.rows} training rows for ${x.cols} feature dimensions (rank ${rank}): ${what}`;
}

/** Class means and the tied covariance on the kept feature dimensions (all of one class when numClasses = 1). */
export interface KeptGaussians {
  kept: Int32Array;
  /** [K, kept.length] */
  means: Float64Array;
  /** [kept.length, kept.length] */
  cov: Float64Array;
}

/**
 * Class means and tied covariance on the features that vary within the classes (see mahalanobis()),
 * or on `kept` when given.
 */
export function keptGaussians(x: Matrix, labels: ArrayLike<number>, numClasses: number, kept?: Int32Array): KeptGaussians {
  const g = classGaussians(x, labels, numClasses);
  const d = g.dim;
  if (!kept) {
    let maxVar = 0;
    for (let i = 0; i < d; i++) maxVar = Math.max(maxVar, g.covariance[i * d + i]);
    const keptList: number[] = [];
    for (let i = 0; i < d; i++) if (g.covariance[i * d + i] > 1e-12 * maxVar) keptList.push(i);
    if (keptList.length === 0) throw new AresError('mahalanobis: every feature is constant on the training data (within each class)');
    kept = Int32Array.from(keptList);
  }
  const m = kept.length;
  const cov = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) cov[i * m + j] = g.covariance[kept[i] * d + kept[j]];
  const means = new Float64Array(numClasses * m);
  for (let c = 0; c < numClasses; c++) for (let i = 0; i < m; i++) means[c * m + i] = g.means[c * d + kept[i]];
  return { kept, means, cov };
}

/** A state from means and an (invertible) covariance on the kept dimensions. */
export function gaussianState(numClasses: number, dim: number, g: KeptGaussians, cov: Float64Array): MahalanobisState {
  const m = g.kept.length;
  const { L, jitter } = choleskyWithJitter(cov, m);
  return { numClasses, dim, kept: g.kept, means: g.means, chol: L, jitter };
}

export interface GaussianFit {
  state: MahalanobisState;
  /** Numerical rank of Σ on the kept dimensions (kept.length when full rank). */
  rank: number;
  /** What was added to Σ off its span (liftNullSpace), or null when Σ is full rank. */
  lift: Float64Array | null;
}

/**
 * Class means and the Cholesky factor of their tied covariance on the features that vary, lifted off
 * the span of the training features when it is rank-deficient (see mahalanobis()).
 */
export function fitGaussians(x: Matrix, labels: ArrayLike<number>, numClasses: number): GaussianFit {
  const g = keptGaussians(x, labels, numClasses);
  const m = g.kept.length;
  // The class-centred rows span at most N − K dimensions.
  const lifted = liftNullSpace(g.cov, m, maxMeanSquare(x, g.kept), x.rows - numClasses);
  if (lifted.rank === 0) throw new AresError('mahalanobis: the training features vary by no more than float32 rounding within the classes');
  return { state: gaussianState(numClasses, x.cols, g, lifted.cov), rank: lifted.rank, lift: lifted.lift };
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
