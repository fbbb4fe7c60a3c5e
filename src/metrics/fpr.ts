import { type Scores, sortedAscending, countAtLeast, countAtMost, requiredCount, checkRate } from './scores.js';

/**
 * Which class is "positive" when reading FPR at a TPR.
 * - `paper` (default; the ARES paper, VOS, Energy, ODIN): in-distribution is positive. The threshold
 *   accepts `tpr` of the ID samples; FPR = share of OOD samples accepted.
 * - `openood` (OpenOOD v1.5): OOD is positive. The threshold flags `tpr` of the OOD samples as OOD;
 *   FPR = share of ID samples flagged as OOD.
 */
export type FprConvention = 'paper' | 'openood';
export const FPR_CONVENTIONS: readonly FprConvention[] = ['paper', 'openood'];

export interface FprResult {
  /** False positive rate in [0, 1]. */
  fpr: number;
  /** The score threshold the rate was read at (see the conventions for which side it accepts). */
  threshold: number;
  /** The rate actually reached on the positives (>= the requested one; larger only through ties). */
  tprReached: number;
}

/**
 * γ: the largest threshold t such that #{id >= t} / n_id >= tpr, i.e. the k-th largest ID score with
 * k = ceil(tpr · n_id). A sample is accepted as in-distribution when score >= γ (paper Eq. 14).
 * Any larger t would accept fewer than k ID samples, so γ is always one of the ID scores; ties at γ are
 * all accepted, which is why the reached TPR can exceed the requested one.
 */
export function thresholdAtTpr(idScores: Scores, tpr = 0.95): number {
  checkRate(tpr, 'tpr');
  const id = sortedAscending(idScores, 'ID scores');
  return id[id.length - requiredCount(tpr, id.length)];
}

/**
 * FPR at a given TPR, exact (no binning, no interpolation).
 *
 * paper:   γ = thresholdAtTpr(id, tpr);  FPR = #{ood >= γ} / n_ood  (OOD tied with γ count as accepted).
 * openood: τ = the smallest t with #{ood <= t} / n_ood >= tpr (the k-th smallest OOD score);
 *          FPR = #{id <= τ} / n_id  (ID tied with τ count as flagged). This is what OpenOOD reads off
 *          sklearn's roc_curve(ood_indicator, -score) at the first point with tpr >= 0.95, except that
 *          sklearn's drop_intermediate can skip that point on a straight segment; here it never is.
 * The two are mirror images: openood(id, ood) = paper(-ood, -id).
 */
export function fprAtTpr(idScores: Scores, oodScores: Scores,
  opts: { tpr?: number; convention?: FprConvention } = {}): FprResult {
  const tpr = opts.tpr ?? 0.95;
  checkRate(tpr, 'tpr');
  const id = sortedAscending(idScores, 'ID scores');
  const ood = sortedAscending(oodScores, 'OOD scores');
  if ((opts.convention ?? 'paper') === 'paper') {
    const gamma = id[id.length - requiredCount(tpr, id.length)];
    return {
      fpr: countAtLeast(ood, gamma) / ood.length,
      threshold: gamma,
      tprReached: countAtLeast(id, gamma) / id.length,
    };
  }
  const tau = ood[requiredCount(tpr, ood.length) - 1];
  return {
    fpr: countAtMost(id, tau) / id.length,
    threshold: tau,
    tprReached: countAtMost(ood, tau) / ood.length,
  };
}
