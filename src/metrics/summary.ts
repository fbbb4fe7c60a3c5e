import { AresError } from '../errors.js';
import { auroc, auprIn, auprOut } from './auc.js';
import { type FprConvention, fprAtTpr } from './fpr.js';
import type { Scores } from './scores.js';

export interface OodMetrics {
  /** FPR at `tpr` under `convention`, in [0, 1]. */
  fpr: number;
  tpr: number;
  convention: FprConvention;
  /** The threshold the FPR was read at, and the rate reached there on the positives. */
  threshold: number;
  tprReached: number;
  auroc: number;
  auprIn: number;
  auprOut: number;
  nId: number;
  nOod: number;
}

/** Every OOD metric of one (ID, OOD) pair of score lists; all rates are fractions, not percents. */
export function oodMetrics(idScores: Scores, oodScores: Scores,
  opts: { tpr?: number; convention?: FprConvention } = {}): OodMetrics {
  const tpr = opts.tpr ?? 0.95;
  const convention = opts.convention ?? 'paper';
  const f = fprAtTpr(idScores, oodScores, { tpr, convention });
  return {
    fpr: f.fpr, tpr, convention, threshold: f.threshold, tprReached: f.tprReached,
    auroc: auroc(idScores, oodScores),
    auprIn: auprIn(idScores, oodScores),
    auprOut: auprOut(idScores, oodScores),
    nId: idScores.length, nOod: oodScores.length,
  };
}

/** Index of the largest logit in each row of a row-major [n, k] matrix (the first one on ties). */
export function argmaxRows(logits: ArrayLike<number>, numClasses: number): Int32Array {
  if (numClasses < 1 || logits.length % numClasses !== 0) {
    throw new AresError(`logits of length ${logits.length} are not rows of ${numClasses} classes`);
  }
  const n = logits.length / numClasses;
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (logits[r * numClasses + c] > logits[r * numClasses + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Share of predictions equal to their labels, in [0, 1]. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length) {
    throw new AresError(`accuracy: ${predictions.length} predictions but ${labels.length} labels`);
  }
  if (labels.length === 0) throw new AresError('accuracy: no samples');
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (divisor n − 1); NaN when n = 1, where it is undefined. */
  std: number;
  n: number;
}

/** Mean ± sample std (n − 1) across seeds. The std of one value is NaN, not 0: one seed shows no spread. */
export function meanStd(values: readonly number[] | Float64Array): MeanStd {
  const n = values.length;
  if (n === 0) throw new AresError('meanStd: no values');
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  if (n === 1) return { mean, std: NaN, n };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

/** "12.34 ± 0.56" (or "12.34 (1 run)" when the spread is undefined), scaled by `scale` (100 for percents). */
export function formatMeanStd(m: MeanStd, digits = 2, scale = 1): string {
  const mean = (m.mean * scale).toFixed(digits);
  return m.n < 2 ? `${mean} (1 run)` : `${mean} ± ${(m.std * scale).toFixed(digits)}`;
}
