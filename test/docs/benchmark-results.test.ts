import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBenchmarkConfig, type CellResult } from '../../src/pipeline/benchmark.js';
import { renderTables } from '../../src/pipeline/benchmark-tables.js';

/**
 * The published benchmark numbers are the ones `ares benchmark` wrote: docs/results-benchmark.json
 * is the run's results.json, the tables are re-rendered from it with the shipped config, and every
 * table row in docs/results-benchmark.md must be one of those rows (the README shows the verdict:
 * verdict-results.test.ts).
 */
const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const tableRows = (md: string) => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Method'));

describe('published benchmark tables', () => {
  const config = readBenchmarkConfig(join(root, 'configs/benchmark.json'));
  const results = JSON.parse(read('docs/results-benchmark.json')) as { name: string; cells: CellResult[] };
  const rendered = renderTables(config, results.cells);

  it('results.json holds every cell of the shipped config', () => {
    expect(results.name).toBe(config.name);
    const expected = config.entries.flatMap((e) => e.seeds.map((s) => `${e.label}/${s}`)).sort();
    expect(results.cells.map((c) => `${c.label}/${c.seed}`).sort()).toEqual(expected);
  });

  it('docs/results-benchmark.md shows exactly the rows rendered from it', () => {
    expect(tableRows(read('docs/results-benchmark.md'))).toEqual(tableRows(rendered));
  });
});
