import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBenchmarkConfig, type CellResult } from '../../src/pipeline/benchmark.js';
import { renderTables } from '../../src/pipeline/benchmark-tables.js';

/**
 * The verdict's published tables are the ones `ares benchmark` renders from the runs' results.json
 * (kept in docs/ with the cells' run folders relative to the repository): each table block of the
 * rendering that the docs show must appear there verbatim, so no number is typed by hand.
 */
const root = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/** The rendered markdown split into blocks, each a bold heading line with its table. */
function blocks(md: string): Map<string, string> {
  const out = new Map<string, string>();
  let head: string | null = null;
  let lines: string[] = [];
  const flush = () => { if (head) out.set(head, lines.join('\n').trim()); };
  for (const line of md.split('\n')) {
    const m = /^\*\*(.+?)\*\*/.exec(line);
    if (m) { flush(); head = m[1]; lines = [line]; } else if (head) lines.push(line);
  }
  flush();
  return out;
}

function rendered(configFile: string, resultsFile: string): Map<string, string> {
  const config = readBenchmarkConfig(join(root, configFile));
  const results = JSON.parse(read(resultsFile)) as { name: string; cells: CellResult[] };
  expect(results.name).toBe(config.name);
  return blocks(renderTables(config, results.cells));
}

const block = (b: Map<string, string>, prefix: string) => {
  const k = [...b.keys()].find((x) => x.startsWith(prefix));
  expect(k, prefix).toBeDefined();
  return b.get(k!)!;
};

describe('published verdict tables', () => {
  const far = rendered('configs/verdict.json', 'docs/results-verdict.json');
  const near = rendered('configs/verdict-near-fashion-mnist.json', 'docs/results-verdict-near-fashion-mnist.json');
  const nearMnist = rendered('configs/verdict-near-mnist.json', 'docs/results-verdict-near-mnist.json');
  const longer = rendered('configs/verdict-12-epochs.json', 'docs/results-verdict-12-epochs.json');

  it('docs/results-verdict.md shows the far and near tables as rendered from the results', () => {
    const doc = read('docs/results-verdict.md');
    for (const p of ['Table 1', 'Paired differences to PixMix-only', 'Paired differences to CE', 'Validation OOD set']) expect(doc).toContain(block(far, p));
    for (const p of ['Table 1', 'Paired differences to PixMix-only', 'Paired differences to CE']) expect(doc).toContain(block(near, p));
    for (const p of ['Table 1', 'Paired differences to PixMix-only', 'Paired differences to CE']) expect(doc).toContain(block(nearMnist, p));
    for (const p of ['Table 1', 'Paired differences to PixMix-only', 'Paired differences to CE']) expect(doc).toContain(block(longer, p));
    for (const p of ['Table 2', 'Table 3', 'Paired differences of the ablations to ARES', 'Paired differences of the ablations to PixMix']) expect(doc).toContain(block(far, p));
  });

  it("the README's results section shows the same blocks", () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('## Benchmark results'), readme.indexOf('## Method choices'));
    expect(section).toContain(block(far, 'Table 1'));
    expect(section).toContain(block(far, 'Paired differences to PixMix-only'));
    expect(section).toContain(block(near, 'Paired differences to PixMix-only'));
    expect(section).toContain(block(nearMnist, 'Paired differences to PixMix-only'));
  });
});
