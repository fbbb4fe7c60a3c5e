import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBenchmarkConfig, type CellResult } from '../../src/pipeline/benchmark.js';
import { renderTables } from '../../src/pipeline/benchmark-tables.js';

/**
 * The near-OOD grid's published tables are the ones `ares benchmark --collect` renders from the
 * runs' results.json, kept in docs/: docs/results-near-ood-grid-<split>.md shows exactly the rows
 * rendered now from docs/results-near-ood-grid-<split>.json with the shipped config.
 */
const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const tableRows = (md: string) => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Method'));
const SPLITS = ['fashion-mnist', 'mnist'];
const cellsOf = (line: string) => line.replace(/^\| | \|$/g, '').split(' | ');

describe('published near-OOD grid', () => {
  it.each(SPLITS)('%s: the tables show exactly the rows rendered from its results.json', (split) => {
    const config = readBenchmarkConfig(join(root, `configs/near-ood-grid-${split}.json`));
    const results = JSON.parse(read(`docs/results-near-ood-grid-${split}.json`)) as { name: string; cells: CellResult[] };
    expect(results.name).toBe(config.name);
    // Every cell is one of the config's (a split may hold fewer seeds than the config lists; the doc says which).
    const allowed = new Set(config.entries.flatMap((e) => e.seeds.map((s) => `${e.label}/${s}`)));
    for (const c of results.cells) expect(allowed.has(`${c.label}/${c.seed}`)).toBe(true);
    expect(tableRows(read(`docs/results-near-ood-grid-${split}.md`))).toEqual(tableRows(renderTables(config, results.cells)));
  });

  it.each(SPLITS)('%s: the reading\'s summary table quotes the rendered Table 1 (held-out classes FPR95, ID accuracy, best score)', (split) => {
    const config = readBenchmarkConfig(join(root, `configs/near-ood-grid-${split}.json`));
    const results = JSON.parse(read(`docs/results-near-ood-grid-${split}.json`)) as { cells: CellResult[] };
    const rendered = renderTables(config, results.cells);
    const table1 = rendered.slice(rendered.indexOf('**Table 1')).split('\n\n')[1].split('\n').map(cellsOf);
    const heldOut = table1[0].findIndex((h) => h.includes('held-out') && h.includes('FPR95'));
    const acc = table1[0].indexOf('ID acc.');
    const byRow = new Map(table1.slice(2).map((r) => [r[0], r]));
    // The summary table: the section titled with this split's name in the reading.
    const title = split === 'mnist' ? 'MNIST digits' : 'Fashion-MNIST';
    const doc = read('docs/results-near-ood-grid.md');
    const section = doc.split('\n## ').find((sec) => sec.startsWith('Held-out classes 6–9: FPR95 by method and score') && sec.includes(title))!;
    expect(section, `a summary section for ${split}`).toBeDefined();
    // The section's first table (later ones in it are other tables).
    const lines = section.split('\n');
    const start = lines.findIndex((l) => l.startsWith('| '));
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
    const rows = lines.slice(start, end).filter((l) => l.startsWith('| ')).map(cellsOf);
    const [head, ...body] = rows; // the |---| line is no "| " row
    expect(body.length).toBe(config.entries.length);
    for (const row of body) {
      const method = row[0];
      const some = [...byRow.entries()].find(([label]) => label.startsWith(`${method} + `))![1];
      expect(row[2], `${method} ID acc.`).toBe(some[acc]);
      let best = { score: '', v: Infinity };
      for (const [label, r] of byRow) {
        if (!label.startsWith(`${method} + `)) continue;
        const v = Number(r[heldOut].split(' ')[0]);
        if (v < best.v) best = { score: label.slice(method.length + 3), v };
      }
      for (let i = 3; i < head.length - 1; i++) {
        const r = byRow.get(`${method} + ${head[i]}`);
        expect(row[i], `${method} + ${head[i]}`).toBe(r ? r[heldOut] : '–');
      }
      expect(row[head.length - 1], `${method} best`).toBe(`${best.score.toLowerCase()} (${best.v.toFixed(2)})`);
    }
  });

  it.each(SPLITS)('%s: the split holds all 5 seeds of every entry', (split) => {
    const config = readBenchmarkConfig(join(root, `configs/near-ood-grid-${split}.json`));
    const results = JSON.parse(read(`docs/results-near-ood-grid-${split}.json`)) as { cells: CellResult[] };
    const expected = config.entries.flatMap((e) => e.seeds.map((s) => `${e.label}/${s}`)).sort();
    expect(results.cells.map((c) => `${c.label}/${c.seed}`).sort()).toEqual(expected);
  });
});
