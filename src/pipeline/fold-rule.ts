/**
 * Retrained held-out-class folds as a near-OOD validation set, and the choice made on them.
 *
 * A fold cell (benchmark entry labelled "<method> / fold <c>" with `foldClass: c`) trained without
 * known class c; its validation rows hold each score's FPR95 on class c's training images against
 * the ID validation split. Per (method, score): the mean over the folds of each seed, then over
 * seeds.
 *
 * THE RULE (fixed before any fold result was read): among the pairs measured on every fold, the
 * lowest mean fold FPR95 wins, unless pairs within `tie` of it exist: then the earliest score in
 * the config's score order, then the earliest method, wins (the simpler choice). Methods in the
 * fold grid are those the grid's own method rule found eligible (ID validation accuracy ≥ CE's).
 */
import { meanStd } from '../metrics/summary.js';
import type { CellResult } from './benchmark.js';

export const FOLD_TIE = 0.5;
const FOLD_LABEL = /^(.*) \/ fold (\d+)$/;

export interface FoldPair {
  method: string;
  score: string;
  seeds: number;
  /** Mean FPR95 (%) per fold class, over seeds. */
  perFold: Record<number, number>;
  /** Mean over the folds of each seed, then over seeds (%). */
  foldFpr: number;
}

const mean = (xs: number[]) => meanStd(xs).mean;

/** Each (method, score)'s fold FPR95, in the cells' method order and the scores' first-seen order. */
export function foldPairs(cells: Pick<CellResult, 'label' | 'seed' | 'metrics'>[]): FoldPair[] {
  // fpr[method][score][seed][fold], percent.
  const fpr = new Map<string, Map<string, Map<number, Map<number, number>>>>();
  const scores: string[] = [];
  for (const cell of cells) {
    const m = FOLD_LABEL.exec(cell.label);
    if (!m) throw new Error(`entry "${cell.label}" is not labelled "<method> / fold <c>"`);
    if (!cell.metrics) continue;
    const [, method, fold] = m;
    const byScore = fpr.get(method) ?? new Map<string, Map<number, Map<number, number>>>();
    fpr.set(method, byScore);
    for (const r of cell.metrics.validationRows ?? []) {
      if (!r.ood.includes(':fold class ')) continue;
      if (!scores.includes(r.score)) scores.push(r.score);
      const bySeed = byScore.get(r.score) ?? new Map<number, Map<number, number>>();
      byScore.set(r.score, bySeed);
      const byFold = bySeed.get(cell.seed) ?? new Map<number, number>();
      bySeed.set(cell.seed, byFold);
      byFold.set(Number(fold), 100 * r.fpr95);
    }
  }
  const pairs: FoldPair[] = [];
  for (const [method, byScore] of fpr) {
    for (const score of scores) {
      const bySeed = byScore.get(score);
      if (!bySeed) continue;
      const seedRuns = [...bySeed.values()];
      const folds = [...new Set(seedRuns.flatMap((f) => [...f.keys()]))].sort((a, b) => a - b);
      const perFold = Object.fromEntries(folds.map((c) => [c, mean(seedRuns.filter((f) => f.has(c)).map((f) => f.get(c)!))]));
      pairs.push({ method, score, seeds: bySeed.size, perFold, foldFpr: mean(seedRuns.map((f) => mean([...f.values()]))) });
    }
  }
  return pairs;
}

/** The rule's choice, or null without a pair measured on every fold. */
export function chooseByFolds(pairs: FoldPair[], scoreOrder: readonly string[], tie = FOLD_TIE): FoldPair | null {
  const nFolds = (p: FoldPair) => Object.keys(p.perFold).length;
  const all = Math.max(0, ...pairs.map(nFolds));
  // A method measured on fewer folds would be judged on other (easier or harder) classes.
  const complete = pairs.filter((p) => nFolds(p) === all);
  if (complete.length === 0) return null;
  const best = Math.min(...complete.map((p) => p.foldFpr));
  const methods = [...new Set(pairs.map((p) => p.method))];
  const rank = (s: string) => { const i = scoreOrder.indexOf(s); return i < 0 ? scoreOrder.length : i; };
  return complete.filter((p) => p.foldFpr <= best + tie)
    .sort((a, b) => rank(a.score) - rank(b.score) || methods.indexOf(a.method) - methods.indexOf(b.method))[0];
}

/** Spearman's rank correlation (ties share their mean rank); NaN with fewer than 2 values or no spread. */
export function spearman(x: number[], y: number[]): number {
  const ranks = (v: number[]) => {
    const order = v.map((val, i) => ({ val, i })).sort((a, b) => a.val - b.val);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1].val === order[i].val) j++;
      for (let k = i; k <= j; k++) r[order[k].i] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  if (x.length !== y.length || x.length < 2) return NaN;
  const [rx, ry] = [ranks(x), ranks(y)];
  const [mx, my] = [mean(rx), mean(ry)];
  let num = 0, dx = 0, dy = 0;
  for (let i = 0; i < x.length; i++) { num += (rx[i] - mx) * (ry[i] - my); dx += (rx[i] - mx) ** 2; dy += (ry[i] - my) ** 2; }
  return num / Math.sqrt(dx * dy);
}
