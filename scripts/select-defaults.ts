/**
 * Applies the validation rule (docs/validation-protocol.md, src/pipeline/validation-rule.ts) to the
 * finished cells of a benchmark folder. It reads only validation numbers: each cell's
 * metrics.json `validationRows` (energy score) and history.json's final epoch (val accuracy,
 * inlier/outlier energies). Candidates are given in the rule's simplicity order.
 *   npx tsx scripts/select-defaults.ts <benchmark-out> <seeds, e.g. 0,1,2> <label> [<label> ...]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cellDir } from '../src/pipeline/benchmark.js';
import { applyValidationRule, type Candidate, type CandidateSeed } from '../src/pipeline/validation-rule.js';
import type { RunHistory, RunMetrics } from '../src/run/types.js';

const [out, seedList, ...labels] = process.argv.slice(2);
if (!out || !seedList || labels.length === 0) {
  process.stderr.write('usage: select-defaults.ts <benchmark-out> <seeds> <label> [<label> ...]\n');
  process.exit(2);
}
const seeds = seedList.split(',').map(Number);

/** Final-epoch share of virtual outliers past γ, per label/seed (reported beside the rule, not used by it). */
const rejected = new Map<string, number>();

function readSeed(label: string, seed: number): CandidateSeed | null {
  const dir = cellDir(out, label, seed);
  if (!existsSync(join(dir, 'metrics.json'))) return null;
  const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as RunMetrics & { validationRows?: { score: string; fpr95: number }[] };
  const h = JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as RunHistory;
  const last = h.epochs[h.epochs.length - 1];
  const rows = (m.validationRows ?? []).filter((r) => r.score === 'energy');
  if (rows.length === 0) throw new Error(`${dir}/metrics.json has no validation rows for the energy score`);
  if (last.energy) rejected.set(`${label}/${seed}`, last.energy.outliersRejected);
  return { seed, valFpr: rows.map((r) => r.fpr95), valAccuracy: last.valAccuracy ?? NaN, inMean: last.energy?.inMean ?? null, outMean: last.energy?.outMean ?? null };
}

const candidates: Candidate[] = labels.map((label) => ({ label, seeds: seeds.map((s) => readSeed(label, s)).filter((x): x is CandidateSeed => x !== null) }));
const missing = candidates.flatMap((c) => seeds.filter((s) => !c.seeds.some((x) => x.seed === s)).map((s) => `${c.label} seed ${s}`));
if (missing.length > 0) process.stderr.write(`not finished (left out): ${missing.join('; ')}\n`);
const { rows, winner } = applyValidationRule(candidates.filter((c) => c.seeds.length > 0));
const pct = (v: number) => (100 * v).toFixed(2);
console.log('| candidate (simplicity order) | seeds | mean val. FPR95 | mean val. acc. | final E_in | final E_out | outliers past γ | outliers below inliers in seeds | excluded |');
console.log('|---|---|---|---|---|---|---|---|---|');
const avg = (a: number[]) => a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN;
for (const r of rows) {
  const ss = candidates.find((c) => c.label === r.label)!.seeds;
  const eIn = avg(ss.flatMap((s) => s.inMean ?? [])), eOut = avg(ss.flatMap((s) => s.outMean ?? []));
  const past = avg(ss.flatMap((s) => rejected.get(`${r.label}/${s.seed}`) ?? []));
  console.log(`| ${r.label}${r.label === winner ? ' **(chosen)**' : ''} | ${ss.length} | ${pct(r.meanValFpr)} | ${pct(r.meanValAccuracy)} | ${eIn.toFixed(2)} | ${eOut.toFixed(2)} | ${pct(past)}% | ${r.wrongOrderSeeds.join(', ') || '—'} | ${r.excluded ?? '—'} |`);
}
console.log(`\nwinner: ${winner ?? 'none (every candidate is out)'}`);
