/**
 * `ares benchmark`: trains every (method entry × seed) of a config, evaluates every (score × OOD set)
 * and writes results.json plus Markdown tables in the layout of the paper's Tables 1–3.
 * Each cell is a run folder; a cell whose metrics.json exists is not trained again, and a cell that
 * was interrupted continues from its last checkpoint, so an interrupted benchmark resumes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainConfig } from '../methods/config.js';
import { AresError } from '../errors.js';
import type { ScoreName } from '../eval/evaluate.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import type { RunMetrics } from './run-folder.js';
import { resolveConfig } from './train-run.js';
import { renderTables } from './benchmark-tables.js';

export type TableName = 'main' | 'stages' | 'loss';

export interface BenchmarkEntry extends Partial<TrainConfig> {
  /** Row label in the tables, e.g. "ARES (linear)". */
  label: string;
  seeds: number[];
  /** Tables the entry appears in: main (Table 1), stages (Table 2), loss (Table 3); default main. */
  tables?: TableName[];
  scores?: ScoreName[];
}

export interface BenchmarkConfig {
  name: string;
  /** Settings shared by every entry (id, ood, valOod, model, limit, epochs, pretrainEpochs, ...). */
  defaults: Partial<TrainConfig> & { id: string };
  scores: ScoreName[];
  entries: BenchmarkEntry[];
  /** Labels of entries every main-table method is compared with, seed by seed (e.g. ["PixMix-only", "CE"]): a paired-difference table with 95% CIs. */
  paired?: string[];
}

export interface CellResult { label: string; tables: TableName[]; seed: number; dir: string; metrics: RunMetrics; seconds: number; cached: boolean }

export function readBenchmarkConfig(file: string): BenchmarkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AresError(e.code === 'ENOENT' ? 'benchmark config not found' : `not valid JSON (${e.message})`, { file });
  }
  const c = raw as BenchmarkConfig;
  if (!c || typeof c.name !== 'string' || !c.defaults || typeof c.defaults.id !== 'string' || !Array.isArray(c.entries) || c.entries.length === 0) {
    throw new AresError('a benchmark config needs "name", "defaults" (with "id") and a non-empty "entries" list', { file });
  }
  const labels = new Set<string>();
  for (const e of c.entries) {
    if (typeof e.label !== 'string' || !Array.isArray(e.seeds) || e.seeds.length === 0) {
      throw new AresError(`every entry needs a "label" and a non-empty "seeds" list (entry ${JSON.stringify(e.label)})`, { file });
    }
    if (labels.has(e.label)) throw new AresError(`two entries are labelled "${e.label}"`, { file });
    labels.add(e.label);
    // Fail on a bad setting now, not an hour into the benchmark.
    for (const seed of e.seeds) cellConfig(c, e, seed);
  }
  for (const ref of c.paired ?? []) {
    if (!labels.has(ref)) throw new AresError(`"paired" names "${ref}", which is no entry's label`, { file });
  }
  return { ...c, scores: c.scores ?? ['energy'] };
}

export function cellConfig(c: BenchmarkConfig, e: BenchmarkEntry, seed: number): TrainConfig {
  const { label: _l, seeds: _s, tables: _t, scores: _sc, ...overrides } = e;
  return resolveConfig({ ...c.defaults, ...overrides, seed });
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
export const cellDir = (out: string, e: BenchmarkEntry, seed: number) => join(out, slug(e.label), `seed-${seed}`);

/** A finished cell's metrics, if they were computed with this very configuration. */
function cachedMetrics(dir: string, cfg: TrainConfig): RunMetrics | null {
  const m = join(dir, 'metrics.json'), c = join(dir, 'config.json');
  if (!existsSync(m) || !existsSync(c)) return null;
  if (readFileSync(c, 'utf8').trim() !== JSON.stringify(cfg, null, 2).trim()) return null;
  return JSON.parse(readFileSync(m, 'utf8')) as RunMetrics;
}

export interface BenchmarkHooks {
  /** Trains and evaluates one cell into `dir` (resuming when it holds checkpoints). */
  runCell(cfg: TrainConfig, dir: string, scores: ScoreName[], label: string): Promise<RunMetrics>;
  onCell?(r: CellResult, done: number, total: number): void;
}

export async function runBenchmark(c: BenchmarkConfig, out: string, hooks: BenchmarkHooks): Promise<{ cells: CellResult[]; markdown: string }> {
  const cells: CellResult[] = [];
  const total = c.entries.reduce((n, e) => n + e.seeds.length, 0);
  for (const e of c.entries) {
    for (const seed of e.seeds) {
      const cfg = cellConfig(c, e, seed);
      const dir = cellDir(out, e, seed);
      const t0 = performance.now();
      const cached = cachedMetrics(dir, cfg);
      const metrics = cached ?? await hooks.runCell(cfg, dir, e.scores ?? c.scores, e.label);
      const cell: CellResult = { label: e.label, tables: e.tables ?? ['main'], seed, dir, metrics, seconds: (performance.now() - t0) / 1000, cached: cached !== null };
      cells.push(cell);
      hooks.onCell?.(cell, cells.length, total);
      // Results so far are always on disk, so an interrupted benchmark loses at most one cell.
      writeJsonAtomic(join(out, 'results.json'), { name: c.name, defaults: c.defaults, cells });
    }
  }
  const markdown = renderTables(c, cells);
  writeFileAtomic(join(out, 'results.md'), markdown);
  return { cells, markdown };
}
