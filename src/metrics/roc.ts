import { type Scores, sortedAscending } from './scores.js';

export interface RocPoint {
  /** Share of OOD samples accepted (score >= t). */
  fpr: number;
  /** Share of ID samples accepted (score >= t). */
  tpr: number;
  /** The threshold t; +Infinity for the (0, 0) corner. */
  threshold: number;
}

/**
 * The exact ROC curve, in-distribution positive (the paper's convention): one point per distinct score
 * value t, from the highest down, accepting score >= t; it starts at (0, 0) and ends at (1, 1).
 * With `maxPoints`, the curve is thinned for drawing only (never for metrics): a point is kept when it
 * lies at least 2/maxPoints (L1) from the last kept one, and the end points are always kept. A monotone
 * curve in the unit square is at most 2 long in L1, so about maxPoints points remain, spread evenly
 * along the curve, steep parts included.
 */
export function rocCurve(idScores: Scores, oodScores: Scores, opts: { maxPoints?: number } = {}): RocPoint[] {
  const id = sortedAscending(idScores, 'ID scores');
  const ood = sortedAscending(oodScores, 'OOD scores');
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let i = id.length - 1, j = ood.length - 1;
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? id[i] : -Infinity, j >= 0 ? ood[j] : -Infinity);
    while (i >= 0 && id[i] === v) i--;
    while (j >= 0 && ood[j] === v) j--;
    points.push({ fpr: (ood.length - 1 - j) / ood.length, tpr: (id.length - 1 - i) / id.length, threshold: v });
  }
  return opts.maxPoints ? thin(points, opts.maxPoints) : points;
}

function thin(points: RocPoint[], maxPoints: number): RocPoint[] {
  if (points.length <= maxPoints) return points;
  const step = 2 / Math.max(1, maxPoints - 1);
  const kept = [points[0]];
  for (let k = 1; k < points.length - 1; k++) {
    const last = kept[kept.length - 1];
    if (Math.abs(points[k].fpr - last.fpr) + Math.abs(points[k].tpr - last.tpr) >= step) kept.push(points[k]);
  }
  kept.push(points[points.length - 1]);
  return kept;
}
