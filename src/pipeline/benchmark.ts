/**
 * `ares benchmark`: trains every (method entry × seed) of a config, evaluates every (score × OOD set)
 * and writes results.json plus Markdown tables in the layout of the paper's Tables 1–3.
 * Each cell is a run folder; a cell whose metrics.json exists is not trained again, and a cell that
 * was interrupted continues from its last checkpoint, so an interrupted benchmark resumes.
 *
 * Several processes (machines sharing the results folder, e.g. a job array running `--shard i/n`)
 * may work on one grid: a cell is trained only by the process that holds its claim (the run folder's
 * lock, src/util/lock.ts), a cell claimed by a live process is skipped, and a claim left by a killed
 * process is taken over and the cell resumed. `collectBenchmark` builds the tables from the cells on disk.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, withStoredLabelSmoothing, type TrainConfig } from '../methods/config.js';
import { canonicalJson, withStoredAugment } from '../methods/train.js';
import { AresError } from '../errors.js';
import { checkEnsembleScores } from '../methods/ensemble.js';
import type { ScoreName } from '../eval/evaluate.js';
import { withFsErrors, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { claimOutputFolder, isDir, writeMarker } from '../util/output-folder.js';
import { MAX_JSON_DEPTH, jsonNestingDepth } from '../util/json-depth.js';
import { describeOwner, tryLock, type Lock, type LockOwner } from '../util/lock.js';
import type { RunMetrics } from './run-folder.js';
import { resolveConfig, runLockPath } from './train-run.js';
import { renderTables } from './benchmark-tables.js';
import { DATA_ROOT_VAR, checkDatasetsExist, usesDataRoot, withDataRoot } from './benchmark-data.js';

export type TableName = 'main' | 'stages' | 'loss';

export interface BenchmarkEntry extends Partial<TrainConfig> {
  /** Row label in the tables, e.g. "ARES (linear)". */
  label: string;
  seeds: number[];
  /** Tables the entry appears in: main (Table 1), stages (Table 2), loss (Table 3); default main. */
  tables?: TableName[];
  scores?: ScoreName[];
}

/** One row of the main table as a paired reference: an entry's label and one of its scores. */
export interface PairedRow { label: string; score: ScoreName }

export interface BenchmarkConfig {
  name: string;
  /** Settings shared by every entry (id, ood, valOod, model, limit, epochs, pretrainEpochs, ...). */
  defaults: Partial<TrainConfig> & { id: string };
  scores: ScoreName[];
  entries: BenchmarkEntry[];
  /** Labels of entries every main-table method is compared with, seed by seed (e.g. ["PixMix-only", "CE"]): a paired-difference table with 95% CIs. */
  paired?: string[];
  /** Labels every ablation row (an entry outside the main table) is compared with, seed by seed (e.g. the full method). */
  pairedAblations?: string[];
  /**
   * (entry, score) rows every main-table (method + score) row is compared with, seed by seed
   * (e.g. CE + ViM, the best near-OOD row of an earlier grid): one paired table per reference.
   */
  pairedRows?: PairedRow[];
  /** Named variants of the defaults (e.g. the paper's shorter schedules), chosen with --preset. */
  presets?: Record<string, Partial<TrainConfig>>;
  /** The folder `$DATA` stood for (set by --data-root); the tables name datasets relative to it. */
  dataRoot?: string;
}

export interface ReadBenchmarkOptions {
  /** Fills `$DATA` in the config's dataset paths. */
  dataRoot?: string;
  /** A key of the config's "presets", merged into the defaults. */
  preset?: string;
  /** Settings that override the defaults and every entry (smoke runs: fewer epochs, a smaller model). */
  set?: Partial<TrainConfig>;
}

export interface CellResult { label: string; tables: TableName[]; seed: number; dir: string; metrics: RunMetrics; seconds: number; cached: boolean }

export function readBenchmarkConfig(file: string, opts: ReadBenchmarkOptions = {}): BenchmarkConfig {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    // JSON.parse takes any nesting, but the settings are later written with JSON.stringify, which recurses.
    if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new AresError(`nests more than ${MAX_JSON_DEPTH} levels deep; not a benchmark config`, { file });
    raw = JSON.parse(text);
  } catch (err) {
    if (err instanceof AresError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new AresError(e.code === 'ENOENT' ? 'benchmark config not found' : `not valid JSON (${e.message})`, { file });
  }
  let c = raw as BenchmarkConfig;
  if (!c || typeof c.name !== 'string' || !c.defaults || typeof c.defaults.id !== 'string' || !Array.isArray(c.entries) || c.entries.length === 0) {
    throw new AresError('a benchmark config needs "name", "defaults" (with "id") and a non-empty "entries" list', { file });
  }
  c = applyOptions(c, opts, file);
  const labels = new Set<string>();
  // Each label becomes a folder name (slug): labels that differ only in case or punctuation would share one cell folder.
  const bySlug = new Map<string, string>();
  for (const e of c.entries) {
    if (!e || typeof e.label !== 'string' || !Array.isArray(e.seeds) || e.seeds.length === 0) {
      throw new AresError(`every entry needs a "label" and a non-empty "seeds" list (entry ${JSON.stringify(e?.label)})`, { file });
    }
    if (labels.has(e.label)) throw new AresError(`two entries are labelled "${e.label}"`, { file });
    const folder = slug(e.label);
    if (folder === '') throw new AresError(`the label "${e.label}" has no letter or digit to name its results folder by`, { file });
    const other = bySlug.get(folder);
    if (other !== undefined) {
      throw new AresError(`the labels "${other}" and "${e.label}" would share one results folder ("${folder}"); labels must differ in their letters or digits`, { file });
    }
    bySlug.set(folder, e.label);
    const seen = new Set<unknown>();
    for (const seed of e.seeds) {
      // A repeated seed would train one cell and count its result twice in the means.
      if (seen.has(seed)) throw new AresError(`entry "${e.label}" lists seed ${JSON.stringify(seed)} twice`, { file });
      seen.add(seed);
    }
    labels.add(e.label);
    // Fail on a bad setting now, not an hour into the benchmark.
    for (const seed of e.seeds) {
      try {
        checkEnsembleScores(cellConfig(c, e, seed), e.scores ?? c.scores ?? ['energy']);
      } catch (err) {
        if (err instanceof AresError && !err.file) throw new AresError(`entry "${e.label}": ${err.message}`, { file, exitCode: err.exitCode });
        throw err;
      }
    }
  }
  checkDatasetsExist([c.defaults, ...c.entries], file);
  for (const [key, refs] of [['paired', c.paired], ['pairedAblations', c.pairedAblations]] as const) {
    for (const ref of refs ?? []) if (!labels.has(ref)) throw new AresError(`"${key}" names "${ref}", which is no entry's label`, { file });
  }
  for (const ref of c.pairedRows ?? []) {
    const e = c.entries.find((x) => x.label === ref?.label);
    if (!e) throw new AresError(`"pairedRows" names "${ref?.label}", which is no entry's label`, { file });
    if (!(e.scores ?? c.scores ?? ['energy']).includes(ref.score)) throw new AresError(`"pairedRows": entry "${ref.label}" is not scored with "${ref.score}"`, { file });
  }
  return { ...c, scores: c.scores ?? ['energy'] };
}

function applyOptions(c: BenchmarkConfig, opts: ReadBenchmarkOptions, file: string): BenchmarkConfig {
  let defaults = { ...c.defaults };
  let entries = c.entries.map((e) => ({ ...e }));
  if (opts.preset !== undefined) {
    // Own keys only, as for --set: "toString" must not find Object.prototype's method.
    const preset = c.presets && Object.hasOwn(c.presets, opts.preset) ? c.presets[opts.preset] : undefined;
    if (!preset || typeof preset !== 'object') {
      const known = Object.keys(c.presets ?? {});
      throw new AresError(`no preset "${opts.preset}" (${known.length ? `presets: ${known.join(', ')}` : 'the config has no presets'})`, { file, exitCode: 2 });
    }
    defaults = { ...defaults, ...preset };
  }
  if (opts.set) {
    for (const k of Object.keys(opts.set)) {
      // Own keys only: `in` would accept inherited names such as "toString" or "constructor".
      if (!Object.hasOwn(DEFAULT_CONFIG, k) && !['id', 'limit', 'idClasses', 'foldClass', 'ensemble'].includes(k)) throw new AresError(`--set: unknown setting "${k}"`, { exitCode: 2 });
    }
    defaults = { ...defaults, ...opts.set };
    entries = entries.map((e) => ({ ...e, ...opts.set }));
  }
  if (usesDataRoot([defaults, ...entries])) {
    if (opts.dataRoot === undefined) {
      throw new AresError(`its datasets are given under ${DATA_ROOT_VAR}; pass --data-root DIR (the folder holding them)`, { file, exitCode: 2 });
    }
    defaults = withDataRoot(defaults, opts.dataRoot);
    entries = entries.map((e) => withDataRoot(e, opts.dataRoot!));
    return { ...c, defaults, entries, dataRoot: opts.dataRoot.replace(/\/+$/, '') };
  }
  return { ...c, defaults, entries };
}

export function cellConfig(c: BenchmarkConfig, e: BenchmarkEntry, seed: number): TrainConfig {
  const { label: _l, seeds: _s, tables: _t, scores: _sc, ...overrides } = e;
  return resolveConfig({ ...c.defaults, ...overrides, seed });
}

/** A label as a file or folder name. */
export const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
/** Where the benchmark keeps the run of one (entry label, seed). */
export const cellDir = (out: string, label: string, seed: number) => join(out, slug(label), `seed-${seed}`);

/** One (entry, seed) of the grid; `index` is its place in the config's order (what --shard splits). */
export interface Cell { index: number; entry: BenchmarkEntry; seed: number; cfg: TrainConfig; dir: string; scores: ScoreName[] }

export function cellsOf(c: BenchmarkConfig, out: string): Cell[] {
  return c.entries.flatMap((entry) => entry.seeds.map((seed) => ({ entry, seed })))
    .map(({ entry, seed }, index) => ({ index, entry, seed, cfg: cellConfig(c, entry, seed), dir: cellDir(out, entry.label, seed), scores: entry.scores ?? c.scores }));
}

/** `--shard i/n`: this process takes the cells whose index is i modulo n (i counts from 0, as job arrays do). */
export interface Shard { index: number; count: number }

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new AresError(`--shard must be i/n with 0 <= i < n (e.g. 0/4), got "${s}"`, { exitCode: 2 });
  return { index, count };
}

/**
 * Settings a method never reads: a run records every resolved setting, so without this a changed
 * default of one of them (the ARES divergence form, chosen by the validation protocol) would make
 * every finished CE, VOS and PixMix-only cell look like another configuration.
 */
const UNREAD_BY_METHOD: Record<string, readonly (keyof TrainConfig)[]> = Object.fromEntries(
  ['ce', 'pixmix-only', 'vos', 'logitnorm', 'pixmix-logitnorm', 'rotation', 'pixmix-rotation'].map((m) => [m, ['divergence']]));

/**
 * Settings only some methods read, each with its readers: cells written before a setting existed
 * have no such key, and for the other methods it must not count as a change.
 */
const READ_ONLY_BY: Partial<Record<keyof TrainConfig, readonly string[]>> = {
  logitNormTau: ['logitnorm', 'pixmix-logitnorm'],
  rotationWeight: ['rotation', 'pixmix-rotation'],
};

function withoutUnread(cfg: TrainConfig): TrainConfig {
  const out = { ...cfg };
  for (const k of UNREAD_BY_METHOD[cfg.method] ?? []) delete out[k];
  for (const [k, readers] of Object.entries(READ_ONLY_BY)) if (!readers.includes(cfg.method)) delete out[k as keyof TrainConfig];
  return out;
}

/** A run folder's stored configuration matches the cell's (`augment: auto` matches what it resolved to; settings the method never reads are not compared). */
export function sameConfig(stored: TrainConfig, wanted: TrainConfig): boolean {
  const s = withStoredLabelSmoothing(withStoredAugment(stored));
  const w = wanted.augment === 'auto' ? { ...wanted, augment: s.augment } : wanted;
  return canonicalJson(withoutUnread(s)) === canonicalJson(withoutUnread(w));
}

/** A finished cell's metrics, or null; a folder holding a run of another configuration is an error, never overwritten. */
export function finishedMetrics(cell: Cell): RunMetrics | null {
  const c = join(cell.dir, 'config.json');
  if (!existsSync(c)) return null;
  if (!sameConfig(JSON.parse(readFileSync(c, 'utf8')) as TrainConfig, cell.cfg)) {
    throw new AresError(`${cell.dir} holds a run with a different configuration than the benchmark's cell "${cell.entry.label}" seed ${cell.seed}; `
      + 'use another --out for a changed config, or remove that folder to train it again', { exitCode: 2 });
  }
  const m = join(cell.dir, 'metrics.json');
  return existsSync(m) ? JSON.parse(readFileSync(m, 'utf8')) as RunMetrics : null;
}

/** One line per claim, takeover, finish and skip in <out>/events.jsonl: who trained what (appends are atomic for short lines). */
function logEvent(out: string, cell: Cell, event: 'start' | 'takeover' | 'done' | 'skip-claimed', extra: Record<string, unknown> = {}): void {
  mkdirSync(out, { recursive: true });
  const line = JSON.stringify({ time: new Date().toISOString(), cell: cell.index, label: cell.entry.label, seed: cell.seed, event, pid: process.pid, host: hostname(), ...extra });
  appendFileSync(join(out, 'events.jsonl'), line + '\n');
}

export interface BenchmarkHooks {
  /** Trains and evaluates one cell into `dir` (resuming when it holds checkpoints); the caller holds the cell's `lock`. */
  runCell(cfg: TrainConfig, dir: string, scores: ScoreName[], label: string, lock: Lock): Promise<RunMetrics>;
  onCell?(r: CellResult, done: number, total: number): void;
  /** A cell another process is training right now. */
  onSkip?(cell: Cell, holder: LockOwner | null): void;
}

export interface BenchmarkOptions { shard?: Shard }

/**
 * Checks that the benchmark may write into `out` and marks it as a benchmark results folder
 * (src/util/output-folder.ts). A folder from before the marker (or cells restored from published
 * results) is recognised when it holds only results.json, results.md, events.jsonl and the
 * config's cell folders (one per entry label).
 */
export function claimBenchmarkFolder(c: BenchmarkConfig, out: string): void {
  const cellFolders = new Set(c.entries.map((e) => slug(e.label)));
  const files = new Set(['results.json', 'results.md', 'events.jsonl']);
  claimOutputFolder(out, 'benchmark', {
    legacy: (dir, entries) => entries.every((n) => files.has(n) || (cellFolders.has(n) && isDir(join(dir, n)))),
  });
  withFsErrors(out, () => mkdirSync(out, { recursive: true }), 'cannot create the folder');
  writeMarker(out, 'benchmark');
}

export async function runBenchmark(c: BenchmarkConfig, out: string, hooks: BenchmarkHooks, opts: BenchmarkOptions = {}):
  Promise<{ cells: CellResult[]; skipped: Cell[]; markdown: string | null }> {
  claimBenchmarkFolder(c, out);
  const mine = cellsOf(c, out).filter((cell) => !opts.shard || cell.index % opts.shard.count === opts.shard.index);
  const cells: CellResult[] = [];
  const skipped: Cell[] = [];
  for (const cell of mine) {
    const t0 = performance.now();
    let metrics = finishedMetrics(cell);
    const cached = metrics !== null;
    if (!metrics) {
      const claim = tryLock(runLockPath(cell.dir), `ares benchmark, cell "${cell.entry.label}" seed ${cell.seed}`);
      if (!claim.ok) {
        logEvent(out, cell, 'skip-claimed', { holder: claim.holder });
        skipped.push(cell);
        hooks.onSkip?.(cell, claim.holder);
        continue;
      }
      try {
        if (claim.tookOverStale) logEvent(out, cell, 'takeover', { from: describeOwner(claim.tookOverStale) });
        // Another process may have finished the cell between the check above and the claim.
        metrics = finishedMetrics(cell);
        if (!metrics) {
          logEvent(out, cell, 'start');
          metrics = await hooks.runCell(cell.cfg, cell.dir, cell.scores, cell.entry.label, claim.lock);
          logEvent(out, cell, 'done');
        }
      } finally {
        claim.lock.release();
      }
    }
    const result: CellResult = { label: cell.entry.label, tables: cell.entry.tables ?? ['main'], seed: cell.seed, dir: cell.dir, metrics, seconds: (performance.now() - t0) / 1000, cached };
    cells.push(result);
    hooks.onCell?.(result, cells.length, mine.length);
    // Results so far are always on disk, so an interrupted benchmark loses at most one cell. Shards
    // leave results.json to `--collect`, so they never replace each other's.
    if (!opts.shard) writeJsonAtomic(join(out, 'results.json'), { name: c.name, defaults: c.defaults, cells });
  }
  if (opts.shard) return { cells, skipped, markdown: null };
  const all = collectBenchmark(c, out, new Map(cells.map((r) => [r.dir, r])));
  return { cells: all.cells, skipped, markdown: all.markdown };
}

/**
 * results.json and results.md from every finished cell on disk (in the config's order); the
 * cells not finished yet are listed, not guessed. `known` supplies this process's own timings.
 */
export function collectBenchmark(c: BenchmarkConfig, out: string, known = new Map<string, CellResult>()): { cells: CellResult[]; missing: Cell[]; markdown: string } {
  claimBenchmarkFolder(c, out);
  const cells: CellResult[] = [];
  const missing: Cell[] = [];
  for (const cell of cellsOf(c, out)) {
    const k = known.get(cell.dir);
    const metrics = k ? k.metrics : finishedMetrics(cell);
    if (!metrics) { missing.push(cell); continue; }
    cells.push(k ?? { label: cell.entry.label, tables: cell.entry.tables ?? ['main'], seed: cell.seed, dir: cell.dir, metrics, seconds: metrics.trainSeconds, cached: true });
  }
  writeJsonAtomic(join(out, 'results.json'), { name: c.name, defaults: c.defaults, cells, missing: missing.map((m) => ({ label: m.entry.label, seed: m.seed, dir: m.dir })) });
  const markdown = renderTables(c, cells);
  writeFileAtomic(join(out, 'results.md'), markdown);
  return { cells, missing, markdown };
}
