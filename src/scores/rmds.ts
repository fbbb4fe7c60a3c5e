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
 * within + between), so it is positive definite wherever Σ is.
 */
import { AresError, NotFittedError } from '../errors.js';
import { fitGaussians, seenClassLabels, mahalanobisStateFromJson, mahalanobisStateToJson, minSquaredDistances, whitenMeans, type MahalanobisState } from './mahalanobis.js';
import { checkLabels, type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn, readMatrix } from './types.js';

export interface RmdsState {
  /** N(μ_k, Σ) per class. */
  classes: MahalanobisState;
  /** N(μ_0, Σ_0), one Gaussian (numClasses 1) on the same kept dimensions. */
  background: MahalanobisState;
}

interface Prepared { state: RmdsState; wmClasses: Float64Array; wmBackground: Float64Array }

export function rmds(): Detector<OutputsIn, LabelledOutputsIn, RmdsState> {
  let prepared: Prepared | null = null;
  const set = (s: RmdsState) => { prepared = prepareRmds(s); };
  return {
    name: 'rmds', params: {}, requiresFit: true,
    get state() { return prepared?.state ?? null; },
    fit(data) {
      set(fitRmds(data));
      return this;
    },
    restore(s) {
      set(s);
      return this;
    },
    score(input) {
      if (!prepared) throw new NotFittedError('rmds');
      if (!input.features) throw new AresError('rmds scores penultimate features; the outputs have none');
      return rmdsScores(prepared, readMatrix(input.features, 'rmds features'));
    },
  };
}

function fitRmds(data: LabelledOutputsIn): RmdsState {
  if (!data.features) throw new AresError('rmds is fitted on penultimate features; the outputs have none');
  const x = readMatrix(data.features, 'rmds features');
  const numClasses = readMatrix(data.logits, 'rmds logits').cols;
  checkLabels(data.labels, x.rows, numClasses, 'rmds fit');
  const seen = seenClassLabels(data.labels, numClasses);
  const classes = fitGaussians(x, seen.labels, seen.count);
  const background = fitGaussians(x, new Int32Array(x.rows), 1, classes.kept);
  return { classes, background };
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
