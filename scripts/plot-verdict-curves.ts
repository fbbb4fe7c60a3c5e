/**
 * The training curves behind the verdict's reading, as standalone SVG files: per-epoch ID
 * validation accuracy of the runs given, and for the ARES runs the inlier vs virtual-outlier
 * energies and the share of virtual outliers past the epoch's γ. Reads only each run folder's
 * history.json (training and ID-validation numbers; no OOD test number).
 *   npx tsx scripts/plot-verdict-curves.ts <out-dir> <label>=<run-dir> [<label>=<run-dir> ...]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { slug } from '../src/pipeline/benchmark.js';
import { curveChart, energyChart } from '../src/report/charts.js';
import { standaloneSvg } from '../src/report/svg.js';
import type { RunHistory } from '../src/run/types.js';
import { writeFileAtomic } from '../src/util/fs.js';

const [out, ...pairs] = process.argv.slice(2);
if (!out || pairs.length === 0 || pairs.some((p) => !p.includes('='))) {
  process.stderr.write('usage: plot-verdict-curves.ts <out-dir> <label>=<run-dir> [...]\n');
  process.exit(2);
}
const runs = pairs.map((p) => {
  const i = p.indexOf('=');
  return { label: p.slice(0, i), history: JSON.parse(readFileSync(join(p.slice(i + 1), 'history.json'), 'utf8')) as RunHistory };
});

function write(name: string, svgText: string): void {
  const file = join(out, name);
  writeFileAtomic(file, standaloneSvg(svgText) + '\n');
  process.stderr.write(`wrote ${file}\n`);
}

const pct = (v: number | undefined | null) => (v === undefined || v === null ? null : 100 * v);
write('val-accuracy.svg', curveChart('val-accuracy', 'ID validation accuracy per epoch',
  runs.map((r) => ({ name: r.label, points: r.history.epochs.map((e) => [e.epoch, pct(e.valAccuracy)] as [number, number | null]) })), 'ID val. accuracy (%)'));
write('train-accuracy.svg', curveChart('train-accuracy', 'Training accuracy per epoch (on the images as trained: mixed for Escape methods)',
  runs.map((r) => ({ name: r.label, points: r.history.epochs.map((e) => [e.epoch, pct(e.accuracy)] as [number, number | null]) })), 'train accuracy (%)'));

const withEnergy = runs.filter((r) => r.history.epochs.some((e) => e.energy));
for (const r of withEnergy) {
  const name = `energy-${slug(r.label)}`;
  write(`${name}.svg`, energyChart(name, r.history.epochs));
}
if (withEnergy.length > 0) {
  write('outliers-past-gamma.svg', curveChart('outliers-past-gamma', 'Share of virtual outliers that γ calls unknown, per epoch',
    withEnergy.map((r) => ({ name: r.label, points: r.history.epochs.map((e) => [e.epoch, pct(e.energy?.outliersRejected)] as [number, number | null]) })), 'outliers past γ (%)'));
}
