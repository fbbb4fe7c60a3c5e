/**
 * `--score auto` on a post-hoc benchmark grid: for every finished cell, runs auto's validation on
 * the cell's model and ID data exactly as `ares train` does at the end of training (evaluate with
 * `auto`, the cell's stored data config and seed; no test set is loaded for it), then reads the
 * pick's TEST FPR95 from the cell's metrics.json (which holds every score's test rows) and compares
 * it with the best single score (lowest mean over the seeds) and with energy (the old default),
 * as paired per-seed differences with 95% t-intervals.
 *
 *   npx tsx scripts/auto-pick-grid.ts <config.json> <benchmark-out> [<config.json> <benchmark-out> ...] [--json <file>] [--reuse <file>]
 *
 * --reuse takes the picks of an earlier --json file for the cells it holds (the selection is
 * deterministic), so cells that finished later can be added without redoing the others.
 *
 * The test number of a split: the mean FPR95 over its far test sets (every set but the held-out
 * classes) for a config without held-out classes, and the held-out-classes set's FPR95 for one
 * with `idClasses` (the near task).
 *
 * For a grid of several training methods, a second table chooses the METHOD by validation only,
 * by a rule fixed before the grid was read: among the methods whose mean ID validation accuracy is
 * at least CE's, the one whose auto pick has the lowest mean FPR95 on the held-out-class folds
 * (auto's near-OOD validation proxy), ties (within 0.5 points) to the higher validation accuracy.
 * The test numbers of that choice are then reported, never used.
 */
import { readFileSync } from 'node:fs';
import { initEngine } from '../src/engine/backend.js';
import { evaluate } from '../src/eval/evaluate.js';
import { AUTO_CANDIDATES, type AutoCandidate, type ScoreSelection } from '../src/eval/auto-score.js';
import { pairedDifference, type PairedDifference } from '../src/metrics/paired.js';
import { cellsOf, finishedMetrics, readBenchmarkConfig } from '../src/pipeline/benchmark.js';
import { formatPaired } from '../src/pipeline/benchmark-tables.js';
import { loadRun } from '../src/pipeline/load-run.js';
import { validationAccuracy } from '../src/methods/train.js';
import { prepareForConfig } from '../src/pipeline/train-run.js';
import type { RunMetrics } from '../src/run/types.js';
import { writeJsonAtomic } from '../src/util/fs.js';

let args = process.argv.slice(2);
/** The value of `--flag <value>`, removed from args. */
function flag(name: string): string | null {
  const at = args.indexOf(name);
  if (at < 0) return null;
  const v = args[at + 1];
  args = [...args.slice(0, at), ...args.slice(at + 2)];
  return v ?? null;
}
const jsonFile = flag('--json');
const reuseFile = flag('--reuse');
const pairs = args;
if (pairs.length === 0 || pairs.length % 2 !== 0) {
  process.stderr.write('usage: auto-pick-grid.ts <config.json> <benchmark-out> [<config.json> <benchmark-out> ...] [--json <file>]\n');
  process.exit(2);
}

type CandidateRow = Pick<ScoreSelection['candidates'][number], 'score' | 'farMean' | 'nearMean' | 'objective' | 'excluded'>;
interface CellPick {
  label: string; seed: number; split: string; chosen: AutoCandidate; testFpr: Record<AutoCandidate, number>; selectionSeconds: number; candidates: CandidateRow[]; seconds: number; reused?: boolean;
  /** ID validation accuracy of the cell's model and its test accuracy (metrics.json); absent in files written before they were recorded. */
  valAccuracy?: number; testAccuracy?: number;
}
const key = (split: string, label: string, seed: number) => `${split}|${label}|${seed}`;
const earlier = new Map<string, CellPick>(reuseFile
  ? (JSON.parse(readFileSync(reuseFile, 'utf8')) as { picks: CellPick[] }).picks.map((p) => [key(p.split, p.label, p.seed), p])
  : []);

/** The split's test number for every candidate score, from a cell's metrics.json rows. */
function testFprByScore(m: RunMetrics, near: boolean): Record<AutoCandidate, number> {
  const out = {} as Record<AutoCandidate, number>;
  for (const s of AUTO_CANDIDATES) {
    const rows = m.rows.filter((r) => r.score === s && (near ? r.ood.includes('held-out') : !r.ood.includes('held-out')));
    if (rows.length === 0) throw new Error(`metrics.json has no ${near ? 'held-out-classes' : 'far'} test row for ${s}`);
    out[s] = rows.reduce((a, r) => a + r.fpr95, 0) / rows.length;
  }
  return out;
}

await initEngine();
const picks: CellPick[] = [];
const missing: string[] = [];
const t0 = performance.now();
for (let i = 0; i < pairs.length; i += 2) {
  const config = readBenchmarkConfig(pairs[i]);
  const near = Array.isArray(config.defaults.idClasses);
  const split = near ? 'near (held-out classes)' : 'far (mean of far test sets)';
  for (const cell of cellsOf(config, pairs[i + 1])) {
    const metrics = finishedMetrics(cell);
    if (!metrics) { missing.push(`${split}: ${cell.entry.label} seed ${cell.seed}`); continue; }
    const before = earlier.get(key(split, cell.entry.label, cell.seed));
    if (before) {
      picks.push({ ...before, testFpr: testFprByScore(metrics, near), testAccuracy: metrics.idAccuracy, reused: true });
      continue;
    }
    const c0 = performance.now();
    const run = await loadRun(cell.dir);
    // What `ares train` evaluates at its end, minus the test and validation OOD sets (auto reads
    // neither: its own validation sets are made inside evaluate).
    const data = await prepareForConfig({ ...run.config, ood: [], valOod: [] });
    const w = run.detector.score.name === 'energy' ? run.detector.score.weights : run.detector.energyWeights;
    const e = evaluate(run.model, { ...data, normalization: run.detector.normalization }, {
      scores: [], auto: true, tpr: run.config.tpr, seed: run.config.seed, energyWeights: w ? Float32Array.from(w) : null,
    });
    const valAccuracy = await validationAccuracy(run.model, { ...data, normalization: run.detector.normalization });
    run.model.layersModel.dispose();
    const selection = e.selection!;
    const pick: CellPick = {
      label: cell.entry.label, seed: cell.seed, split, chosen: selection.chosen, testFpr: testFprByScore(metrics, near), selectionSeconds: selection.seconds,
      candidates: selection.candidates.map((c) => ({ score: c.score, farMean: c.farMean, nearMean: c.nearMean, objective: c.objective, excluded: c.excluded })),
      seconds: (performance.now() - c0) / 1000, valAccuracy, testAccuracy: metrics.idAccuracy,
    };
    picks.push(pick);
    process.stderr.write(`${split} ${pick.label} seed ${pick.seed}: auto → ${pick.chosen} (selection ${selection.seconds.toFixed(1)} s, cell ${pick.seconds.toFixed(1)} s)\n`);
  }
}

const pct = (v: number) => (100 * v).toFixed(2);
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const bySeed = (rows: CellPick[], f: (p: CellPick) => number) => new Map(rows.map((p) => [p.seed, f(p)]));
const lines = [
  '| Method | split | auto pick per seed | auto FPR95 per seed | auto mean FPR95 | best single score (mean FPR95) | auto − best [95% CI] | energy mean FPR95 | auto − energy [95% CI] |',
  '|---|---|---|---|---|---|---|---|---|',
];
const summary: { label: string; split: string; best: AutoCandidate; autoMinusBest: PairedDifference; autoMinusEnergy: PairedDifference }[] = [];
for (const split of [...new Set(picks.map((p) => p.split))]) {
  for (const label of [...new Set(picks.map((p) => p.label))]) {
    const rows = picks.filter((p) => p.split === split && p.label === label).sort((a, b) => a.seed - b.seed);
    if (rows.length === 0) continue;
    const best = AUTO_CANDIDATES.reduce((b, s) => (mean(rows.map((r) => r.testFpr[s])) < mean(rows.map((r) => r.testFpr[b])) ? s : b));
    const auto = bySeed(rows, (p) => p.testFpr[p.chosen]);
    const dBest = pairedDifference(auto, bySeed(rows, (p) => p.testFpr[best]));
    const dEnergy = pairedDifference(auto, bySeed(rows, (p) => p.testFpr.energy));
    summary.push({ label, split, best, autoMinusBest: dBest, autoMinusEnergy: dEnergy });
    lines.push(`| ${label} | ${split} | ${rows.map((r) => `${r.seed}: ${r.chosen}`).join(', ')} | ${rows.map((r) => pct(r.testFpr[r.chosen])).join(', ')} | ${pct(mean([...auto.values()]))} `
      + `| ${best} (${pct(mean(rows.map((r) => r.testFpr[best])))}) | ${formatPaired(dBest, false)} | ${pct(mean(rows.map((r) => r.testFpr.energy)))} | ${formatPaired(dEnergy, false)} |`);
  }
}
console.log(lines.join('\n'));
const choices = chooseMethods(picks);
if (choices.length) console.log('\n' + choices.map((c) => c.table).join('\n\n'));
const fresh = picks.filter((p) => !p.reused);
// JSON written before selectionSeconds was recorded has none: those cells are left out of the timing.
const timed = picks.filter((p) => typeof p.selectionSeconds === 'number');
console.log(`\n${picks.length} cells (${fresh.length} evaluated now in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${picks.length - fresh.length} reused); `
  + `selection ${mean(timed.map((p) => p.selectionSeconds)).toFixed(1)} s and whole cell ${mean(timed.map((p) => p.seconds)).toFixed(1)} s per cell on average (${timed.length} cells timed)`);
if (missing.length) console.log(`not finished (left out): ${missing.join('; ')}`);
if (jsonFile) writeJsonAtomic(jsonFile, { picks, summary, methodChoice: choices.map(({ table: _t, ...c }) => c), missing });

/** The method-choice table of each near split with more than one method (the rule is in the file comment). */
function chooseMethods(all: CellPick[]): { split: string; chosen: string | null; rows: MethodRow[]; table: string }[] {
  const out: { split: string; chosen: string | null; rows: MethodRow[]; table: string }[] = [];
  for (const split of [...new Set(all.map((p) => p.split))]) {
    const cells = all.filter((p) => p.split === split && typeof p.valAccuracy === 'number');
    const labels = [...new Set(cells.map((p) => p.label))];
    if (labels.length < 2 || !cells.some((p) => p.candidates.some((c) => c.nearMean !== null))) continue;
    const rows: MethodRow[] = labels.map((label) => {
      const rs = cells.filter((p) => p.label === label);
      const pickOf = (p: CellPick) => p.candidates.find((c) => c.score === p.chosen)!;
      return {
        label, seeds: rs.length, valAccuracy: mean(rs.map((p) => p.valAccuracy!)), testAccuracy: mean(rs.map((p) => p.testAccuracy ?? NaN)),
        foldFpr: mean(rs.map((p) => pickOf(p).nearMean ?? NaN)), farValFpr: mean(rs.map((p) => pickOf(p).farMean)),
        testFpr: mean(rs.map((p) => p.testFpr[p.chosen])), picks: rs.map((p) => p.chosen),
      };
    });
    const ce = rows.find((r) => r.label === 'CE');
    const eligible = rows.filter((r) => !ce || r.valAccuracy >= ce.valAccuracy);
    const bestFold = Math.min(...eligible.map((r) => r.foldFpr));
    const tied = eligible.filter((r) => r.foldFpr <= bestFold + 0.005).sort((a, b) => b.valAccuracy - a.valAccuracy);
    const chosen = tied[0]?.label ?? null;
    const table = [
      `**Choosing the method by validation only (${split})**`, '',
      '| Method | seeds | ID val acc. | eligible (val acc. ≥ CE) | auto picks | held-out-class folds FPR95 (validation) | far validation FPR95 | test: held-out classes FPR95 | test: ID acc. |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.label}${r.label === chosen ? ' **(chosen)**' : ''} | ${r.seeds} | ${pct(r.valAccuracy)} | ${eligible.includes(r) ? 'yes' : 'no'} | ${r.picks.join(', ')} `
        + `| ${pct(r.foldFpr)} | ${pct(r.farValFpr)} | ${pct(r.testFpr)} | ${pct(r.testAccuracy)} |`),
    ].join('\n');
    out.push({ split, chosen, rows, table });
  }
  return out;
}

interface MethodRow { label: string; seeds: number; valAccuracy: number; testAccuracy: number; foldFpr: number; farValFpr: number; testFpr: number; picks: AutoCandidate[] }
