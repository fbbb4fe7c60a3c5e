/**
 * Retrained held-out-class folds as a near-OOD validation set: reads a collected benchmark of fold
 * cells (entries labelled "<method> / fold <c>", each with `foldClass: c`, e.g.
 * configs/near-ood-folds-fashion-mnist.json), averages each (method, score)'s FPR95 on its fold
 * sets (the training images of the class the network never saw, against the ID validation split),
 * and chooses by a rule fixed before any fold result was read:
 *
 *   among the methods given (those the near grid's method table found eligible: ID validation
 *   accuracy at least CE's), the (method, score) pair with the lowest mean fold FPR95 (mean over
 *   the folds of each seed, then over seeds); pairs within 0.5 points of it tie, and the tie goes
 *   to the earlier score in the config's score order, then to the earlier method in the config.
 *
 * With the near grid's results.json it then reports (never uses) each pair's test FPR95 on the
 * held-out test classes and the rank correlation between the two, i.e. how well the proxy ranks.
 *
 *   npx tsx scripts/fold-rank.ts <folds results.json> [--grid <near grid results.json>] [--json <file>]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeJsonAtomic } from '../src/util/fs.js';

interface Row { ood: string; score: string; fpr95: number }
interface Cell { label: string; seed: number; metrics: { rows: Row[]; validationRows?: Row[] } | null }
interface Results { name: string; cells: Cell[] }

const { values: o, positionals: args } = parseArgs({ allowPositionals: true, options: { grid: { type: 'string' }, json: { type: 'string' } } });
const gridFile = o.grid ?? null;
const jsonFile = o.json ?? null;
if (args.length !== 1) {
  process.stderr.write('usage: fold-rank.ts <folds results.json> [--grid <near grid results.json>] [--json <file>]\n');
  process.exit(2);
}
const folds = JSON.parse(readFileSync(args[0], 'utf8')) as Results;

const TIE = 0.5;
const FOLD_LABEL = /^(.*) \/ fold (\d+)$/;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// fpr[method][score][seed][fold] in percent, from each fold cell's own fold set.
const fpr = new Map<string, Map<string, Map<number, Map<number, number>>>>();
const methodOrder: string[] = [];
const scoreOrder: string[] = [];
for (const cell of folds.cells) {
  const m = FOLD_LABEL.exec(cell.label);
  if (!m) throw new Error(`${args[0]}: entry "${cell.label}" is not labelled "<method> / fold <c>"`);
  if (!cell.metrics) continue; // not finished
  const [, method, fold] = m;
  if (!methodOrder.includes(method)) methodOrder.push(method);
  for (const r of cell.metrics.validationRows ?? []) {
    if (!r.ood.includes(':fold class ')) continue;
    if (!scoreOrder.includes(r.score)) scoreOrder.push(r.score);
    const byScore = fpr.get(method) ?? new Map();
    fpr.set(method, byScore);
    const bySeed = byScore.get(r.score) ?? new Map();
    byScore.set(r.score, bySeed);
    const byFold = bySeed.get(cell.seed) ?? new Map();
    bySeed.set(cell.seed, byFold);
    byFold.set(Number(fold), 100 * r.fpr95);
  }
}

interface Pair { method: string; score: string; seeds: number; folds: number; foldFpr: number; perFold: Record<number, number>; testFpr: number | null }
const pairs: Pair[] = [];
for (const method of methodOrder) {
  for (const score of scoreOrder) {
    const bySeed = fpr.get(method)?.get(score);
    if (!bySeed) continue;
    const seedMeans = [...bySeed.values()].map((f) => mean([...f.values()]));
    const foldIds = [...new Set([...bySeed.values()].flatMap((f) => [...f.keys()]))].sort((a, b) => a - b);
    const perFold = Object.fromEntries(foldIds.map((c) => [c, mean([...bySeed.values()].filter((f) => f.has(c)).map((f) => f.get(c)!))]));
    pairs.push({ method, score, seeds: bySeed.size, folds: foldIds.length, foldFpr: mean(seedMeans), perFold, testFpr: null });
  }
}
if (pairs.length === 0) throw new Error(`${args[0]}: no finished fold cell`);
// Only pairs measured on every fold the grid ran compete (a half-finished method would be judged on easier folds).
const allFolds = Math.max(...pairs.map((p) => p.folds));
const complete = pairs.filter((p) => p.folds === allFolds);
const best = Math.min(...complete.map((p) => p.foldFpr));
const tied = complete.filter((p) => p.foldFpr <= best + TIE);
tied.sort((a, b) => scoreOrder.indexOf(a.score) - scoreOrder.indexOf(b.score) || methodOrder.indexOf(a.method) - methodOrder.indexOf(b.method));
const chosen = tied[0];

if (gridFile) {
  const grid = JSON.parse(readFileSync(gridFile, 'utf8')) as Results;
  for (const p of pairs) {
    const values = grid.cells.filter((c) => c.label === p.method && c.metrics)
      .map((c) => c.metrics!.rows.find((r) => r.score === p.score && r.ood.includes(':held-out classes'))?.fpr95)
      .filter((v): v is number => v !== undefined);
    p.testFpr = values.length ? 100 * mean(values) : null;
  }
}

/** Spearman's rank correlation (average ranks for ties). */
function spearman(x: number[], y: number[]): number {
  const rank = (v: number[]) => {
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
  const [rx, ry] = [rank(x), rank(y)];
  const [mx, my] = [mean(rx), mean(ry)];
  let num = 0, dx = 0, dy = 0;
  for (let i = 0; i < x.length; i++) { num += (rx[i] - mx) * (ry[i] - my); dx += (rx[i] - mx) ** 2; dy += (ry[i] - my) ** 2; }
  return num / Math.sqrt(dx * dy);
}
const withTest = complete.filter((p) => p.testFpr !== null);
const rho = withTest.length >= 3 ? spearman(withTest.map((p) => p.foldFpr), withTest.map((p) => p.testFpr!)) : null;

const f2 = (v: number | null) => (v === null ? '–' : v.toFixed(2));
const foldCols = Object.keys(chosen.perFold);
console.log(`# ${folds.name}\n`);
console.log(`| Method | score | seeds | ${foldCols.map((c) => `fold ${c}`).join(' | ')} | mean fold FPR95 (validation) | test: held-out classes FPR95 |`);
console.log(`|---|---|---|${foldCols.map(() => '---|').join('')}---|---|`);
for (const p of [...pairs].sort((a, b) => a.foldFpr - b.foldFpr)) {
  const mark = p === chosen ? ' **(chosen)**' : '';
  console.log(`| ${p.method}${mark} | ${p.score} | ${p.seeds} | ${foldCols.map((c) => f2(p.perFold[Number(c)] ?? null)).join(' | ')} | ${f2(p.foldFpr)} | ${f2(p.testFpr)} |`);
}
console.log(`\nChosen by the folds: ${chosen.method} + ${chosen.score} (mean fold FPR95 ${f2(chosen.foldFpr)}${chosen.testFpr !== null ? `; its test FPR95 on the held-out classes ${f2(chosen.testFpr)}` : ''}).`);
if (rho !== null) console.log(`Spearman rank correlation between fold FPR95 and test FPR95 over the ${withTest.length} pairs: ${rho.toFixed(3)}.`);
if (jsonFile) writeJsonAtomic(jsonFile, { rule: 'lowest mean retrained-fold FPR95; ties within 0.5 points to the earlier score, then the earlier method', chosen: { method: chosen.method, score: chosen.score }, spearman: rho, pairs });
