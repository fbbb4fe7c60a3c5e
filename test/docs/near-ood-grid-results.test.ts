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

  it('the Fashion-MNIST split holds all 5 seeds of every entry', () => {
    const config = readBenchmarkConfig(join(root, 'configs/near-ood-grid-fashion-mnist.json'));
    const results = JSON.parse(read('docs/results-near-ood-grid-fashion-mnist.json')) as { cells: CellResult[] };
    const expected = config.entries.flatMap((e) => e.seeds.map((s) => `${e.label}/${s}`)).sort();
    expect(results.cells.map((c) => `${c.label}/${c.seed}`).sort()).toEqual(expected);
  });
});
