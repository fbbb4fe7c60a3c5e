/**
 * The ID-validation score histogram the try-it page draws each answer on: the distribution of the
 * detector's score over the held-out ID validation images γ was set on, binned at export time so the
 * bundle carries a few hundred bytes instead of every score. Pure (no Node, no DOM): `ares export`
 * builds it, the page's script (bundled by esbuild) reads it.
 */
import { AresError } from '../../errors.js';

export const HISTOGRAM_FILE = 'score-histogram.json';
export const HISTOGRAM_BINS = 40;

export interface ScoreHistogram {
  version: 1;
  /** The detector's score name (ares.json score.name). */
  score: string;
  on: 'id-validation';
  /** Number of validation scores binned. */
  count: number;
  gamma: number;
  tpr: number;
  /** Equal-width bins over [lo, hi]: bin i covers [lo + i·w, lo + (i+1)·w), the last one includes hi. */
  lo: number;
  hi: number;
  counts: number[];
}

/** Bins `values` (finite numbers) over their own range; γ is one of them (thresholdAtTpr), so it lies inside. */
export function buildScoreHistogram(values: ArrayLike<number>, meta: { score: string; gamma: number; tpr: number }, bins = HISTOGRAM_BINS): ScoreHistogram {
  if (values.length === 0) throw new AresError('no validation scores to bin');
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new AresError(`validation score ${i} is not a finite number`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // One distinct value would give zero-width bins; widen so it still draws as one bar.
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[binOf(values[i], lo, hi, bins)]++;
  return { version: 1, score: meta.score, on: 'id-validation', count: values.length, gamma: meta.gamma, tpr: meta.tpr, lo, hi, counts };
}

function binOf(v: number, lo: number, hi: number, bins: number): number {
  return Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)));
}

/**
 * Share of the validation scores below `score`, read off the histogram: whole bins below it plus
 * the covered part of its own bin (scores taken as spread evenly inside a bin), so it is exact at
 * bin edges and within one bin's share elsewhere.
 */
export function shareBelow(h: ScoreHistogram, score: number): number {
  if (score <= h.lo) return 0;
  if (score >= h.hi) return 1;
  const bins = h.counts.length;
  const pos = ((score - h.lo) / (h.hi - h.lo)) * bins;
  const k = Math.min(bins - 1, Math.floor(pos));
  let below = 0;
  for (let i = 0; i < k; i++) below += h.counts[i];
  below += h.counts[k] * (pos - k);
  return below / h.count;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Validates score-histogram.json; `source` names the file in every error. */
export function parseScoreHistogram(raw: unknown, source: string): ScoreHistogram {
  const bad = (what: string): never => { throw new AresError(`invalid score histogram: ${what}`, { file: source }); };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('expected a JSON object');
  const h = raw as Record<string, unknown>;
  if (h.version !== 1) bad(`unsupported version ${JSON.stringify(h.version)}`);
  if (typeof h.score !== 'string' || h.on !== 'id-validation') bad('expected score (a name) and on: "id-validation"');
  if (![h.gamma, h.tpr, h.lo, h.hi].every(isFiniteNumber) || !((h.hi as number) > (h.lo as number))) bad('gamma, tpr, lo < hi must be finite numbers');
  const counts = h.counts;
  if (!Array.isArray(counts) || counts.length === 0 || !counts.every((c) => Number.isInteger(c) && c >= 0)) bad('counts must be a non-empty array of non-negative integers');
  const total = (counts as number[]).reduce((a, b) => a + b, 0);
  if (h.count !== total || total === 0) bad(`count ${JSON.stringify(h.count)} is not the sum of the bin counts (${total})`);
  return h as unknown as ScoreHistogram;
}
