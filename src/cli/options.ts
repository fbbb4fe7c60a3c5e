import { InvalidArgumentError } from 'commander';
import { SCORE_NAMES, type ScoreName } from '../eval/evaluate.js';
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
  if (v === 'all') return [...SCORE_NAMES];
  const names = v.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!(SCORE_NAMES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown score "${n}"; choose from ${SCORE_NAMES.join(', ')} or all`);
  }
  return names as ScoreName[];
}

/** Like parseScores, and `auto` (every deployable score, one deployed by the validation rule) may be among them. */
export function parseScoresOrAuto(v: string): (ScoreName | 'auto')[] {
  const names = v.split(',').map((s) => s.trim());
  const rest = names.filter((n) => n !== 'auto');
  return [...(names.includes('auto') ? ['auto' as const] : []), ...(rest.length ? parseScores(rest.join(',')) : [])];
}

const pct = (x: number) => (100 * x).toFixed(2).padStart(7);

/** The metrics of one run as an aligned text table (percentages). */
export function formatMetricsTable(m: RunMetrics): string {
  const lines = [`ID accuracy: ${(100 * m.idAccuracy).toFixed(2)}%   (${m.method}, ${m.model}, seed ${m.seed}, backend ${m.backend})`];
  const rows = [...m.rows.map((r) => ({ ...r, kind: 'test' })), ...m.validationRows.map((r) => ({ ...r, kind: 'validation' }))];
  if (rows.length === 0) return lines.join('\n');
  const width = Math.max(8, ...rows.map((r) => r.ood.length));
  lines.push(`${'OOD set'.padEnd(width)}  ${'score'.padEnd(11)}  FPR95↓   AUROC↑  AUPR-In  AUPR-Out  role`);
  for (const r of rows) {
    lines.push(`${r.ood.padEnd(width)}  ${r.score.padEnd(11)}  ${pct(r.fpr95)}  ${pct(r.auroc)}  ${pct(r.aupr_in)}  ${pct(r.aupr_out)}  ${r.kind}`);
  }
  return lines.join('\n');
}
