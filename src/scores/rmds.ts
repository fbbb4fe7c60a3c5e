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
 * eigenvalue f (see mahalanobis.ts): Σ_r = Σ + lift. The background gets the same lift:
 * Σ_0,r = Σ_0 + lift = Σ_r + B, so the identity above still holds and Σ_0,r ⪰ Σ_r: RMD_k stays ≥ 0
 * far from the data in every direction. (A background lifted on its own, to its own smallest
 * eigenvalue, can be narrower than Σ_r in a between-class direction off Σ's span, and a point far
 * along it would score +∞, the most ID of all.)
 * Off the span of all training rows (where even Σ_0 has no variance) both are f, and a move there
 * cancels in MD_k − MD_0: RMDS scores such a point as its projection onto that span. This is RMDS's
 * own rule, not a gap: RMD weighs a direction by 1/σ²_class − 1/σ²_background, which is 0 wherever
 * the background is no wider than the classes, as in every direction without between-class spread.
 * Charging the move anyway (a wider background there) was tried and is worse where it matters most:
 * with fewer rows than dimensions every fresh ID row lies partly off the span, the charge swamps the
 * small relative term, and in-span outliers (4× a training row's deviation, 90 rows of 256-d) then
 * outscored fresh ID rows (AUROC 0.00; 0.43 with the cancelling lift; Mahalanobis: 1.00, in
 * test/scores/rank-deficient.test.ts's case). Off-span outliers are Mahalanobis's and ViM's to catch
 * (both charge them).
 * A full-rank Σ is not touched: states and scores are the same as before, to the bit.
 */
import { AresError, NotFittedError } from '../errors.js';
import {
  fitGaussians, gaussianState, keptGaussians, mahalanobisStateFromJson, mahalanobisStateToJson, minSquaredDistances, rankWarning,
  readFitData, whitenMeans, type GaussianFit, type MahalanobisState,
} from './mahalanobis.js';
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
      const { x, labels, numClasses } = readFitData(data, 'rmds');
      const classes = fitGaussians(x, labels, numClasses);
      warnings = classes.rank < classes.state.kept.length ? [rankWarning('rmds', x, classes.rank,
        `both Gaussians use the ${classes.rank}-dimensional span of the class-centred training features; a move off the span of all training rows cancels in the relative distance`)] : [];
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

/** N(μ_0, Σ_0) of all rows on the class Gaussians' kept dimensions, with the class Gaussians' lift (see the top of the file). */
function fitBackground(x: Matrix, classes: GaussianFit): MahalanobisState {
  const g = keptGaussians(x, new Int32Array(x.rows), 1, classes.state.kept);
  const lift = classes.lift;
  if (!lift) return gaussianState(1, x.cols, g, g.cov);
  return gaussianState(1, x.cols, g, g.cov.map((v, i) => v + lift[i]));
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
