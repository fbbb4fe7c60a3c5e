/**
 * Retrained held-out-class folds as a near-OOD validation set: reads a collected benchmark of fold
 * cells (e.g. configs/near-ood-folds-fashion-mnist.json), prints each (method, score)'s FPR95 per
 * fold and its mean, and the choice of the rule in src/pipeline/fold-rule.ts (fixed before any
 * fold result was read). With the near grid's results.json it also reports, never uses, each
 * pair's test FPR95 on the held-out test classes and the Spearman rank correlation between fold
 * and test FPR95: how well the proxy ranks what it stands for.
 *
 *   npx tsx scripts/fold-rank.ts <folds results.json> [--grid <near grid results.json>] [--json <file>]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { meanStd } from '../src/metrics/summary.js';
import type { CellResult } from '../src/pipeline/benchmark.js';
import { chooseByFolds, FOLD_TIE, foldPairs, spearman } from '../src/pipeline/fold-rule.js';
import { writeJsonAtomic } from '../src/util/fs.js';

const { values: o, positionals: args } = parseArgs({ allowPositionals: true, options: { grid: { type: 'string' }, json: { type: 'string' } } });
if (args.length !== 1) {
  process.stderr.write('usage: fold-rank.ts <folds results.json> [--grid <near grid results.json>] [--json <file>]\n');
  process.exit(2);
}
const folds = JSON.parse(readFileSync(args[0], 'utf8')) as { name: string; cells: CellResult[] };
const pairs = foldPairs(folds.cells);
const scoreOrder = [...new Set(pairs.map((p) => p.score))];
const chosen = chooseByFolds(pairs, scoreOrder);
if (!chosen) throw new Error(`${args[0]}: no finished fold cell`);

const testFpr = new Map<string, number>();
if (o.grid) {
  const grid = JSON.parse(readFileSync(o.grid, 'utf8')) as { cells: CellResult[] };
  for (const p of pairs) {
    const values = grid.cells.filter((c) => c.label === p.method && c.metrics)
      .map((c) => c.metrics.rows.find((r) => r.score === p.score && r.ood.includes(':held-out classes'))?.fpr95)
      .filter((v): v is number => v !== undefined);
    if (values.length) testFpr.set(`${p.method}|${p.score}`, 100 * meanStd(values).mean);
  }
}
const test = (p: { method: string; score: string }) => testFpr.get(`${p.method}|${p.score}`) ?? null;
const nFolds = Object.keys(chosen.perFold).length;
const ranked = pairs.filter((p) => Object.keys(p.perFold).length === nFolds && test(p) !== null);
const rho = ranked.length >= 3 ? spearman(ranked.map((p) => p.foldFpr), ranked.map((p) => test(p)!)) : null;

const f2 = (v: number | null | undefined) => (v == null ? '–' : v.toFixed(2));
const foldCols = Object.keys(chosen.perFold).map(Number);
console.log(`# ${folds.name}\n`);
console.log(`| Method | score | seeds | ${foldCols.map((c) => `fold ${c}`).join(' | ')} | mean fold FPR95 (validation) | test: held-out classes FPR95 |`);
console.log(`|---|---|---|${foldCols.map(() => '---|').join('')}---|---|`);
for (const p of [...pairs].sort((a, b) => a.foldFpr - b.foldFpr)) {
  console.log(`| ${p.method}${p === chosen ? ' **(chosen)**' : ''} | ${p.score} | ${p.seeds} | ${foldCols.map((c) => f2(p.perFold[c])).join(' | ')} | ${f2(p.foldFpr)} | ${f2(test(p))} |`);
}
console.log(`\nChosen by the folds: ${chosen.method} + ${chosen.score} (mean fold FPR95 ${f2(chosen.foldFpr)}${test(chosen) !== null ? `; its test FPR95 on the held-out classes ${f2(test(chosen))}` : ''}).`);
if (rho !== null) console.log(`Spearman rank correlation between fold FPR95 and test FPR95 over the ${ranked.length} pairs: ${rho.toFixed(3)}.`);
if (o.json) {
  writeJsonAtomic(o.json, {
    rule: `lowest mean retrained-fold FPR95; ties within ${FOLD_TIE} points to the earlier score, then the earlier method`,
    chosen: { method: chosen.method, score: chosen.score }, spearman: rho,
    pairs: pairs.map((p) => ({ ...p, testFpr: test(p) })),
  });
}
