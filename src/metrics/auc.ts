import { type Scores, sortedAscending } from './scores.js';

/**
 * AUROC as the Mann–Whitney statistic: P(id > ood) + ½·P(id = ood) over all (id, ood) pairs, exact.
 * One sweep over the two sorted lists, group of equal values by group: an ID sample beats every OOD
 * sample below its value and ties half of those equal to it. The sums are integers and halves, so
 * they are exact in double precision up to 2^52 pairs. O(n log n) for the sorts.
 */
export function auroc(idScores: Scores, oodScores: Scores): number {
  const id = sortedAscending(idScores, 'ID scores');
  const ood = sortedAscending(oodScores, 'OOD scores');
  let i = 0, j = 0, oodBelow = 0, wins = 0;
  while (i < id.length) {
    const v = id[i];
    while (j < ood.length && ood[j] < v) { j++; oodBelow++; }
    let idTied = 0, oodTied = 0;
    while (i < id.length && id[i] === v) { i++; idTied++; }
    while (j < ood.length && ood[j] === v) { j++; oodTied++; }
    wins += idTied * (2 * oodBelow + oodTied);
    oodBelow += oodTied;
  }
  // wins counts in halves to stay integral.
  return wins / (2 * id.length * ood.length);
}

/**
 * Average precision of `positives` against `negatives`, where a higher score means "more positive":
 * AP = Σ_t (R_t − R_{t−1}) · P_t over the distinct score values t, from the highest down, with every
 * sample tied at t entering together (a tie group is one threshold, not an arbitrary order).
 * This is sklearn's average_precision_score; OpenOOD reports the trapezoidal area under the PR curve
 * instead, which differs slightly.
 */
export function averagePrecision(positives: Scores, negatives: Scores,
  names: [string, string] = ['positive scores', 'negative scores']): number {
  const pos = sortedAscending(positives, names[0]);
  const neg = sortedAscending(negatives, names[1]);
  let i = pos.length - 1, j = neg.length - 1, tp = 0, fp = 0, ap = 0;
  while (i >= 0) {
    const v = Math.max(pos[i], j >= 0 ? neg[j] : -Infinity);
    let dtp = 0;
    while (i >= 0 && pos[i] === v) { i--; dtp++; }
    while (j >= 0 && neg[j] === v) { j--; fp++; }
    tp += dtp;
    if (dtp > 0) ap += (dtp / pos.length) * (tp / (tp + fp));
  }
  return ap;
}

/** AUPR-In: in-distribution samples are the positives, higher score = more ID. */
export function auprIn(idScores: Scores, oodScores: Scores): number {
  return averagePrecision(idScores, oodScores, ['ID scores', 'OOD scores']);
}

/** AUPR-Out: OOD samples are the positives, so a lower score means "more positive". */
export function auprOut(idScores: Scores, oodScores: Scores): number {
  return averagePrecision(negate(oodScores), negate(idScores), ['OOD scores', 'ID scores']);
}

function negate(s: Scores): Float64Array {
  const out = new Float64Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = -s[i];
  return out;
}
