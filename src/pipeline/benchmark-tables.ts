import { formatMeanStd, meanStd, pairedDifference, verdict, type PairedDifference } from '../metrics/index.js';
import type { BenchmarkConfig, BenchmarkEntry, CellResult, PairedRow, TableName } from './benchmark.js';
import type { MetricRow } from './run-folder.js';

/**
 * Markdown tables in the paper's layout: per OOD set FPR95↓ / AUROC↑ and their average, as
 * mean ± std over seeds (percentages), one row per (training method, score). Validation-OOD results
 * get their own table: they chose the defaults and are not test results.
 */
const SCORE_LABEL: Record<string, string> = { energy: 'Energy', msp: 'MSP', odin: 'ODIN', mahalanobis: 'Mahalanobis', knn: 'KNN', vim: 'ViM', rmds: 'RMDS', mls: 'MLS', gen: 'GEN', react: 'ReAct', ash: 'ASH', scale: 'SCALE' };
const scoreLabel = (score: string) => SCORE_LABEL[score] ?? score;

interface Row { label: string; seeds: number; cells: Map<string, { fpr: number[]; auroc: number[] }>; acc: number[]; seconds: number[] }

function collect(cells: CellResult[], table: TableName, pick: (c: CellResult) => MetricRow[]): Row[] {
  const rows = new Map<string, Row>();
  for (const c of cells.filter((x) => x.tables.includes(table))) {
    for (const m of pick(c)) {
      const key = `${c.label} + ${scoreLabel(m.score)}`;
      const row = rows.get(key) ?? { label: key, seeds: 0, cells: new Map(), acc: [], seconds: [] };
      rows.set(key, row);
      const v = row.cells.get(m.ood) ?? { fpr: [], auroc: [] };
      row.cells.set(m.ood, v);
      v.fpr.push(m.fpr95);
      v.auroc.push(m.auroc);
    }
    for (const key of new Set(pick(c).map((m) => `${c.label} + ${scoreLabel(m.score)}`))) {
      const row = rows.get(key)!;
      row.seeds++;
      row.acc.push(c.metrics.idAccuracy);
      row.seconds.push(c.seconds);
    }
  }
  return [...rows.values()];
}

const ms = (v: number[]) => (v.length ? formatMeanStd(meanStd(v), 2, 100) : '–');

/** A dataset's name in the tables: relative to the data root when it lies under it. */
const shortName = (name: string, root?: string) => (root && name.startsWith(`${root}/`) ? name.slice(root.length + 1) : name);

function renderTable(rows: Row[], caption: string, root?: string): string {
  if (rows.length === 0) return '';
  const sets = [...new Set(rows.flatMap((r) => [...r.cells.keys()]))];
  const head = ['Method + score', ...sets.map((s) => shortName(s, root)).flatMap((s) => [`${s} FPR95↓`, `${s} AUROC↑`]), 'Average FPR95↓', 'Average AUROC↑', 'ID acc.', 'seeds'];
  const lines = [`**${caption}**`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    // The average over OOD sets is taken per seed first, then mean ± std over seeds.
    const perSeedAvg = (k: 'fpr' | 'auroc') => Array.from({ length: r.seeds }, (_, i) => {
      const vals = sets.map((s) => r.cells.get(s)?.[k][i]).filter((v): v is number => v !== undefined);
      return vals.reduce((a, b) => a + b, 0) / vals.length;
    });
    const cols = sets.flatMap((s) => [ms(r.cells.get(s)?.fpr ?? []), ms(r.cells.get(s)?.auroc ?? [])]);
    lines.push(`| ${[r.label, ...cols, ms(perSeedAvg('fpr')), ms(perSeedAvg('auroc')), ms(r.acc), String(r.seeds)].join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

/** Per-seed numbers of one entry's energy-score row in the main table: average FPR95 and AUROC over its test OOD sets, ID accuracy, and each set's FPR95. */
export interface SeedNumbers { fpr: number; auroc: number; acc: number; perSet: Map<string, number> }

export function seedNumbers(cells: CellResult[], label: string, score = 'energy'): Map<number, SeedNumbers> {
  const out = new Map<number, SeedNumbers>();
  for (const c of cells.filter((x) => x.label === label)) {
    const rows = c.metrics.rows.filter((m) => m.score === score);
    if (!rows.length) continue;
    const avg = (k: 'fpr95' | 'auroc') => rows.reduce((s, m) => s + m[k], 0) / rows.length;
    out.set(c.seed, { fpr: avg('fpr95'), auroc: avg('auroc'), acc: c.metrics.idAccuracy, perSet: new Map(rows.map((m) => [m.ood, m.fpr95])) });
  }
  return out;
}

const pick = (m: Map<number, SeedNumbers>, f: (s: SeedNumbers) => number | undefined) => {
  const out = new Map<number, number>();
  for (const [seed, s] of m) { const v = f(s); if (v !== undefined) out.set(seed, v); }
  return out;
};

/** "−1.23 [−2.50, 0.04]" in points (×100), with ✓ where the CI shows the method better and ✗ where worse. */
export function formatPaired(p: PairedDifference, higherIsBetter: boolean): string {
  if (p.n === 0) return '–';
  const f = (v: number) => (100 * v).toFixed(2).replace('-', '−');
  if (p.n < 2) return `${f(p.mean)} (1 seed)`;
  const v = verdict(p, higherIsBetter);
  return `${f(p.mean)} [${f(p.lo)}, ${f(p.hi)}]${v === 'better' ? ' ✓' : v === 'worse' ? ' ✗' : ''}`;
}

/**
 * Per main-table method (energy score), the per-seed paired difference to each reference entry:
 * average FPR95 and AUROC over all test OOD sets (near ones included), ID accuracy, and the FPR95
 * of each held-out-classes set, as mean [95% t-interval] in percentage points.
 */
export function renderPairedTable(c: BenchmarkConfig, cells: CellResult[]): string {
  const mainLabels = c.entries.filter(inMainTable).map((e) => e.label);
  return pairedTables(cells, c.paired ?? [], mainLabels, (ref) => `Paired differences to ${ref}`, 'Method (energy) − ');
}

/**
 * The same for the ablation rows (entries not in the main table), against each of
 * `pairedAblations` (e.g. the full method, so a stage's contribution has its own interval).
 */
export function renderAblationPairedTable(c: BenchmarkConfig, cells: CellResult[]): string {
  const ablations = c.entries.filter((e) => !inMainTable(e)).map((e) => e.label);
  return pairedTables(cells, c.pairedAblations ?? [], ablations, (ref) => `Paired differences of the ablations to ${ref}`, 'Ablation (energy) − ');
}

const inMainTable = (e: BenchmarkEntry) => (e.tables ?? ['main']).includes('main');

function pairedTables(cells: CellResult[], refs: string[], labels: string[], title: (ref: string) => string, firstHead: string): string {
  if (!refs.length) return '';
  const near = [...new Set(cells.flatMap((x) => x.metrics.rows.map((m) => m.ood)).filter((o) => o.includes('held-out')))];
  const parts: string[] = [];
  for (const ref of refs) {
    const base = seedNumbers(cells, ref);
    const head = [firstHead + ref, 'Δ avg FPR95↓', 'Δ avg AUROC↑', 'Δ ID acc.', ...near.map((o) => `Δ ${o} FPR95↓`), 'pairs'];
    const lines = [`**${title(ref)} (per seed, percentage points, mean [95% t-interval]; ✓/✗: the interval excludes 0 in the method's favour / against it)**`, '',
      `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
    for (const label of labels.filter((l) => l !== ref)) {
      const m = seedNumbers(cells, label);
      if (!m.size) continue;
      const d = (f: (s: SeedNumbers) => number | undefined) => pairedDifference(pick(m, f), pick(base, f));
      const fpr = d((s) => s.fpr);
      lines.push(`| ${[label, formatPaired(fpr, false), formatPaired(d((s) => s.auroc), true), formatPaired(d((s) => s.acc), true),
        ...near.map((o) => formatPaired(d((s) => s.perSet.get(o)), false)), String(fpr.n)].join(' | ')} |`);
    }
    parts.push(lines.join('\n') + '\n');
  }
  return parts.join('\n');
}

/**
 * Every main-table (method + score) row against each of `pairedRows`, seed by seed: the FPR95 of
 * each held-out-classes set first (what a near-OOD grid is about), then the average FPR95 over all
 * test sets and ID accuracy, as mean [95% t-interval] in percentage points.
 */
export function renderPairedRowsTable(c: BenchmarkConfig, cells: CellResult[]): string {
  const refs = c.pairedRows ?? [];
  if (!refs.length) return '';
  const main = cells.filter((x) => x.tables.includes('main'));
  const near = [...new Set(main.flatMap((x) => x.metrics.rows.map((m) => m.ood)).filter((o) => o.includes('held-out')))];
  const rows: PairedRow[] = [];
  for (const e of c.entries.filter(inMainTable)) {
    const scores = [...new Set(main.filter((x) => x.label === e.label).flatMap((x) => x.metrics.rows.map((m) => m.score)))];
    for (const score of scores) rows.push({ label: e.label, score: score as PairedRow['score'] });
  }
  const parts: string[] = [];
  for (const ref of refs) {
    const name = `${ref.label} + ${scoreLabel(ref.score)}`;
    const base = seedNumbers(main, ref.label, ref.score);
    const head = [`Method + score − ${name}`, ...near.map((o) => `Δ ${o} FPR95↓`), 'Δ avg FPR95↓', 'Δ ID acc.', 'pairs'];
    const lines = [`**Paired differences to ${name} (per seed, percentage points, mean [95% t-interval]; ✓/✗: the interval excludes 0 in the row's favour / against it)**`, '',
      `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
    for (const r of rows.filter((x) => x.label !== ref.label || x.score !== ref.score)) {
      const m = seedNumbers(main, r.label, r.score);
      if (!m.size) continue;
      const d = (f: (s: SeedNumbers) => number | undefined) => pairedDifference(pick(m, f), pick(base, f));
      const fpr = d((s) => s.fpr);
      lines.push(`| ${[`${r.label} + ${scoreLabel(r.score)}`, ...near.map((o) => formatPaired(d((s) => s.perSet.get(o)), false)),
        formatPaired(fpr, false), formatPaired(d((s) => s.acc), true), String(fpr.n)].join(' | ')} |`);
    }
    parts.push(lines.join('\n') + '\n');
  }
  return parts.join('\n');
}

export function renderTables(c: BenchmarkConfig, cells: CellResult[]): string {
  const d = c.defaults;
  const root = c.dataRoot;
  const setup = `ID: ${shortName(d.id, root)}${root ? ` (under the data root)` : ''}; model: ${d.model ?? 'cnn'}; training images: ${d.limit ?? 'all'}; epochs: ${d.epochs ?? 'default'} `
    + `(${d.pretrainEpochs ?? 'default'} CE-only); values in %, mean ± std over seeds.`;
  return [
    `# Benchmark: ${c.name}`, '', setup, '',
    renderTable(collect(cells, 'main', (x) => x.metrics.rows), 'Table 1 — OOD test sets', root),
    renderPairedTable(c, cells),
    renderPairedRowsTable(c, cells),
    renderTable(collect(cells, 'main', (x) => x.metrics.validationRows), 'Validation OOD set (used to choose defaults; not a test result)', root),
    renderTable(collect(cells, 'stages', (x) => x.metrics.rows.filter((m) => m.score === 'energy')), 'Table 2 — stage ablations (energy score)', root),
    renderTable(collect(cells, 'loss', (x) => x.metrics.rows.filter((m) => m.score === 'energy')), 'Table 3 — discrimination-loss ablation (energy score)', root),
    renderAblationPairedTable(c, cells),
  ].filter(Boolean).join('\n');
}
