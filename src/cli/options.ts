import { InvalidArgumentError, Option } from 'commander';
import { join, relative, sep } from 'node:path';
import { parseResizeMode, RESIZE_MODES, type ResizeMode } from '../data/input-contract.js';
import { MODEL_SPECIFIC_SCORES, SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
import type { RunMetrics } from '../pipeline/run-folder.js';

/** Option parsers: a bad value is a usage error with the option's own message. */
export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${v}"`);
  return n;
}

export function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
}

export function list(v: string): number[] {
  return v.split(',').map((s) => int(s.trim()));
}

export function parseScores(v: string): ScoreName[] {
  if (v === 'all') return SCORE_NAMES.filter((n) => !MODEL_SPECIFIC_SCORES.includes(n));
  const names = v.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(SCORE_NAMES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown score "${n}"; choose from ${SCORE_NAMES.join(', ')} or all`);
  }
  return names as ScoreName[];
}

/**
 * `--resize crop|stretch|pad`, shared by fit, train and predict: how images of another size are
 * fitted to the model (src/data/input-contract.ts). No commander default, so "not given" stays
 * visible and each command can fall back to its own (model metadata, the run's detector.json).
 */
export function resizeOption(description: string): Option {
  return new Option('--resize <mode>', description).choices(RESIZE_MODES);
}
/** Parser for an alias of --resize that also takes the old names (cover = crop, fill = stretch). */
export function parseResizeFlag(v: string): ResizeMode {
  try {
    return parseResizeMode(v, 'resize mode');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** Like parseScores, and `auto` (every deployable score, one deployed by the validation rule) may be among them. */
export function parseScoresOrAuto(v: string): (ScoreName | 'auto')[] {
  const names = v.split(',').map((s) => s.trim());
  const rest = names.filter((n) => n !== 'auto');
  return [...(names.includes('auto') ? ['auto' as const] : []), ...(rest.length ? parseScores(rest.join(',')) : [])];
}

const pct = (x: number) => (100 * x).toFixed(2).padStart(7);

/** The metrics of one run as an aligned text table (percentages). */
/** ID accuracy and what run it is; a fit's "model" is just "fitted", so it is named for what it is. */
function runLine(m: RunMetrics): string {
  const acc = typeof m.idAccuracy === 'number' ? `${(100 * m.idAccuracy).toFixed(2)}%` : 'not measured';
  const what = m.method === 'fit' ? 'ares fit on a given model' : `${m.method}, ${m.model}`;
  return `ID accuracy: ${acc}   (${what}, seed ${m.seed}, backend ${m.backend})`;
}

/** `headline` replaces the first line (ID accuracy and run) for commands that say it their own way (fit). */
export function formatMetricsTable(m: RunMetrics, headline?: string): string {
  const lines = [headline ?? runLine(m)];
  const rows = [...m.rows.map((r) => ({ ...r, kind: 'test' })), ...m.validationRows.map((r) => ({ ...r, kind: 'validation' }))];
  if (rows.length === 0) return lines.join('\n');
  const width = Math.max(8, ...rows.map((r) => r.ood.length));
  lines.push(`${'OOD set'.padEnd(width)}  ${'score'.padEnd(11)}  FPR95↓   AUROC↑  AUPR-In  AUPR-Out  role`);
  for (const r of rows) {
    lines.push(`${r.ood.padEnd(width)}  ${r.score.padEnd(11)}  ${pct(r.fpr95)}  ${pct(r.auroc)}  ${pct(r.aupr_in)}  ${pct(r.aupr_out)}  ${r.kind}`);
  }
  return lines.join('\n');
}

/**
 * How the user can run this CLI again, for hints: a source checkout runs `node bin/ares.js` from
 * its folder, while an installed package has the `ares` bin (through `npx` in a project).
 */
export function selfCommand(argv1: string = process.argv[1] ?? '', cwd: string = process.cwd()): string {
  const rel = relative(cwd, argv1);
  const inSourceCheckout = rel === join('bin', 'ares.js') && !argv1.includes(`${sep}node_modules${sep}`);
  return inSourceCheckout ? 'node bin/ares.js' : 'npx ares';
}
