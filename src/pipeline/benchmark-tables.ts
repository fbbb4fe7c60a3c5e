import { formatMeanStd, meanStd } from '../metrics/index.js';
import type { BenchmarkConfig, CellResult, TableName } from './benchmark.js';
import type { MetricRow } from './run-folder.js';

/**
 * Markdown tables in the paper's layout: per OOD set FPR95↓ / AUROC↑ and their average, as
 * mean ± std over seeds (percentages), one row per (training method, score). Validation-OOD results
 * get their own table: they chose the defaults and are not test results.
 */
const SCORE_LABEL: Record<string, string> = { energy: 'Energy', msp: 'MSP', odin: 'ODIN', mahalanobis: 'Mahalanobis', knn: 'KNN', vim: 'ViM', rmds: 'RMDS' };

interface Row { label: string; seeds: number; cells: Map<string, { fpr: number[]; auroc: number[] }>; acc: number[]; seconds: number[] }

function collect(cells: CellResult[], table: TableName, pick: (c: CellResult) => MetricRow[]): Row[] {
  const rows = new Map<string, Row>();
  for (const c of cells.filter((x) => x.tables.includes(table))) {
    for (const m of pick(c)) {
      const key = `${c.label} + ${SCORE_LABEL[m.score] ?? m.score}`;
      const row = rows.get(key) ?? { label: key, seeds: 0, cells: new Map(), acc: [], seconds: [] };
      rows.set(key, row);
      const v = row.cells.get(m.ood) ?? { fpr: [], auroc: [] };
      row.cells.set(m.ood, v);
      v.fpr.push(m.fpr95);
      v.auroc.push(m.auroc);
    }
    for (const key of new Set(pick(c).map((m) => `${c.label} + ${SCORE_LABEL[m.score] ?? m.score}`))) {
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

export function renderTables(c: BenchmarkConfig, cells: CellResult[]): string {
  const d = c.defaults;
  const root = c.dataRoot;
  const setup = `ID: ${shortName(d.id, root)}${root ? ` (under the data root)` : ''}; model: ${d.model ?? 'cnn'}; training images: ${d.limit ?? 'all'}; epochs: ${d.epochs ?? 'default'} `
    + `(${d.pretrainEpochs ?? 'default'} CE-only); values in %, mean ± std over seeds.`;
  return [
    `# Benchmark: ${c.name}`, '', setup, '',
    renderTable(collect(cells, 'main', (x) => x.metrics.rows), 'Table 1 — OOD test sets', root),
    renderTable(collect(cells, 'main', (x) => x.metrics.validationRows), 'Validation OOD set (used to choose defaults; not a test result)', root),
    renderTable(collect(cells, 'stages', (x) => x.metrics.rows.filter((m) => m.score === 'energy')), 'Table 2 — stage ablations (energy score)', root),
    renderTable(collect(cells, 'loss', (x) => x.metrics.rows.filter((m) => m.score === 'energy')), 'Table 3 — discrimination-loss ablation (energy score)', root),
  ].filter(Boolean).join('\n');
}
