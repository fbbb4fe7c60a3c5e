/**
 * MLS, the maximum logit score: score(x) = max_k f_k(x), the largest raw logit (higher = more
 * in-distribution). Sources: Hendrycks et al., ICML 2022, "Scaling out-of-distribution detection
 * for real-world settings" (MaxLogit); Vaze et al., ICLR 2022, "Open-set recognition: a good
 * closed-set classifier is all you need" (MLS). Unlike MSP it keeps the logits' magnitude, which
 * softmax divides away. Nothing to fit. Pure (no tfjs at run time): the exported loader scores with it.
 */
import type { Detector, Matrix, OutputsIn } from './types.js';
import { readMatrix } from './types.js';

/** max_k of one row of logits. */
export function maxLogit(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let k = 0; k < row.length; k++) if (row[k] > max) max = row[k];
  return max;
}

/** max_k f_k per row of a [N, K] matrix. */
export function maxLogitScores(logits: Matrix): Float64Array {
  const { data, rows, cols } = logits;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = maxLogit(data.subarray(r * cols, (r + 1) * cols));
  return out;
}

export function mls(): Detector<OutputsIn, unknown, never> {
  return {
    name: 'mls', params: {}, requiresFit: false, state: null,
    fit() { return this; },
    restore() { return this; },
    score(input) { return maxLogitScores(readMatrix(input.logits, 'mls logits')); },
  };
}
