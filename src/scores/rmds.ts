/**
 * RMDS, relative Mahalanobis distance (Ren et al., 2021, "A simple fix to Mahalanobis distance for
 * improving near-OOD detection"), on the penultimate features h:
 *
 *   MD_k(h) = (h − μ_k)ᵀ Σ⁻¹ (h − μ_k)     class-conditional Gaussians N(μ_k, Σ), one shared Σ
 *                                          (the Mahalanobis detector's fit, reused)
 *   MD_0(h) = (h − μ_0)ᵀ Σ_0⁻¹ (h − μ_0)   one class-agnostic Gaussian N(μ_0, Σ_0) of all ID
 *                                          training features, whatever their class
 *   RMD_k(h) = MD_k(h) − MD_0(h)
 *   score(h) = −min_k RMD_k(h) = MD_0(h) − min_k MD_k(h)   (higher = more in-distribution)
 *
 * Both Gaussians are maximum-likelihood fits (covariances divided by N) on the same feature
 * dimensions: those that vary within the classes (see mahalanobis.ts); Σ_0 ⪰ Σ there (total =
 * within + between: Σ_0 = Σ + B), so it is positive definite wherever Σ is.
 *
 * Rank-deficient Σ (fewer rows than dimensions, collinear features): the class Gaussians are the
 * Mahalanobis detector's, Σ lifted off the span of the training features to its smallest in-span
 * eigenvalue f (see mahalanobis.ts): Σ_r = Σ + lift. The background must be lifted with care, or the
 * difference MD_k − MD_0 turns meaningless:
 * - it gets the same lift, Σ_0 + lift = Σ_r + B, keeping the identity above: Σ_0,r ⪰ Σ_r, so RMD_k
 *   stays ≥ 0 far from the data in every direction (a background lifted on its own, to its own
 *   smallest eigenvalue, can be narrower than Σ_r in a between-class direction, and a point far
 *   along it would then score +∞, the most ID of all);
 * - where even Σ_0 has no variance (off the span of all training rows), Σ_0 + lift is f, like Σ_r:
 *   the two terms would cancel exactly and an outlier there would look as ID as its projection. So
 *   there the background also gets μ_0 = tr(Σ_0)/rank(Σ_0), its mean variance on its span: it is
 *   taken to be no narrower there than on average, and RMD charges δ²(1/f − 1/(f + μ_0)) ≈ δ²/f for
 *   a move δ off the span, nearly what Mahalanobis charges.
 * A full-rank Σ is not touched: states and scores are the same as before, to the bit.
 */
import { AresError, NotFittedError } from '../errors.js';
import {
  fitGaussians, gaussianState, keptGaussians, mahalanobisStateFromJson, mahalanobisStateToJson, minSquaredDistances, rankWarning,
  readFitData, whitenMeans, type GaussianFit, type MahalanobisState,
} from './mahalanobis.js';
import { maxMeanSquare, numericalRank, spanCutoff, symmetricEigen } from '../util/linalg.js';
import type { Detector, LabelledOutputsIn, Matrix, OutputsIn } from './types.js';
import { readMatrix } from './types.js';

export interface RmdsState {
  /** N(μ_k, Σ) per class. */
  classes: MahalanobisState;
  /** N(μ_0, Σ_0), one Gaussian (numClasses 1) on the same kept dimensions. */
  background: MahalanobisState;
}

interface Prepared { state: RmdsState; wmClasses: Float64Array; wmBackground: Float64Array }

export function rmds(): Detector<OutputsIn, LabelledOutputsIn, RmdsState> {
  let prepared: Prepared | null = null;
  let warnings: string[] = [];
  const set = (s: RmdsState) => { prepared = prepareRmds(s); };
  return {
    name: 'rmds', params: {}, requiresFit: true,
    get state() { return prepared?.state ?? null; },
    get warnings() { return warnings; },
    fit(data) {
      const { x, numClasses } = readFitData(data, 'rmds');
      const classes = fitGaussians(x, data.labels, numClasses);
      warnings = classes.rank < classes.state.kept.length ? [rankWarning('rmds', x, classes.rank, 'both Gaussians are measured')] : [];
      set({ classes: classes.state, background: fitBackground(x, classes) });
      return this;
    },
    restore(s) {
      set(s);
      warnings = [];
      return this;
    },
    score(input) {
      if (!prepared) throw new NotFittedError('rmds');
      if (!input.features) throw new AresError('rmds scores penultimate features; the outputs have none');
      return rmdsScores(prepared, readMatrix(input.features, 'rmds features'));
    },
  };
}

/** N(μ_0, Σ_0) of all rows on the class Gaussians' kept dimensions, lifted as they were (see the top of the file). */
function fitBackground(x: Matrix, classes: GaussianFit): MahalanobisState {
  const g = keptGaussians(x, new Int32Array(x.rows), 1, classes.state.kept);
  if (!classes.lift) return gaussianState(1, x.cols, g, g.cov);
  const m = g.kept.length, lift = classes.lift;
  const { values, vectors } = symmetricEigen(g.cov, m);
  // Σ_0 ⪰ Σ, whose rank is ≥ 1: rank0 ≥ 1.
  const rank0 = numericalRank(values, spanCutoff(values[0], maxMeanSquare(x, g.kept)));
  let mean0 = 0;
  for (let k = 0; k < rank0; k++) mean0 += values[k] / rank0;
  const cov = new Float64Array(m * m);
  for (let i = 0; i < m * m; i++) cov[i] = g.cov[i] + lift[i];
  for (let k = rank0; k < m; k++) {
    for (let i = 0; i < m; i++) {
      const vi = mean0 * vectors[i * m + k];
      if (vi === 0) continue;
      for (let j = 0; j < m; j++) cov[i * m + j] += vi * vectors[j * m + k];
    }
  }
  return gaussianState(1, x.cols, g, cov);
}

export function prepareRmds(state: RmdsState): Prepared {
  const { classes, background } = state;
  if (classes.dim !== background.dim || background.numClasses !== 1 || classes.kept.length !== background.kept.length
    || classes.kept.some((k, i) => k !== background.kept[i])) {
    throw new AresError('rmds state: the background Gaussian must be one Gaussian on the same features as the class Gaussians');
  }
  return { state, wmClasses: whitenMeans(classes), wmBackground: whitenMeans(background) };
}

/** MD_0 − min_k MD_k per row. */
export function rmdsScores(p: Prepared, x: Matrix): Float64Array {
  const dim = p.state.classes.dim;
  if (x.cols !== dim) throw new AresError(`rmds was fitted on ${dim}-d features, got ${x.cols}-d`);
  const md = minSquaredDistances(p.state.classes, p.wmClasses, x);
  const md0 = minSquaredDistances(p.state.background, p.wmBackground, x);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) out[r] = md0[r] - md[r];
  return out;
}

/** Compact JSON (float arrays as base64 float64): exact, for detector.json. */
export function rmdsStateToJson(s: RmdsState): Record<string, unknown> {
  return { classes: mahalanobisStateToJson(s.classes, { compact: true }), background: mahalanobisStateToJson(s.background, { compact: true }) };
}

export function rmdsStateFromJson(json: unknown, file?: string): RmdsState {
  const o = json as Record<string, unknown> | null;
  const s: RmdsState = {
    classes: mahalanobisStateFromJson(o?.classes, file, 'rmds state (classes)'),
    background: mahalanobisStateFromJson(o?.background, file, 'rmds state (background)'),
  };
  try {
    prepareRmds(s);
  } catch (err) {
    throw new AresError((err as Error).message, { file });
  }
  return s;
}
