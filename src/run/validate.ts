/** Shape checks for the run folder's JSON files, so a hand-edited or truncated file fails clearly. */
import { AresError } from '../errors.js';
import { isNum, isNumOrNull, isObject } from './json-file.js';
import type { DetectorSpec } from './detector.js';
import type { RunHistory, RunMetrics, ThresholdFile } from './types.js';

function bad(file: string, what: string): never {
  throw new AresError(`invalid ${what}`, { file });
}

export function parseMetrics(raw: unknown, file: string): RunMetrics {
  if (!isObject(raw) || !isNumOrNull(raw.idAccuracy) || !Array.isArray(raw.rows)) {
    bad(file, 'metrics: expected {idAccuracy: number, rows: [...]}');
  }
  raw.rows.forEach((r, i) => {
    if (!isObject(r) || typeof r.ood !== 'string' || typeof r.score !== 'string'
      || !['fpr95', 'auroc', 'aupr_in', 'aupr_out'].every((k) => isNumOrNull(r[k]))) {
      bad(file, `metrics row ${i}: expected {ood, score, fpr95, auroc, aupr_in, aupr_out}`);
    }
  });
  return raw as unknown as RunMetrics;
}

export function parseHistory(raw: unknown, file: string): RunHistory {
  if (!isObject(raw) || !Array.isArray(raw.epochs)) bad(file, 'history: expected {epochs: [...]}');
  raw.epochs.forEach((e, i) => {
    if (!isObject(e) || !isNum(e.epoch) || !isNumOrNull(e.ce) || !isNumOrNull(e.jsd) || !isNumOrNull(e.accuracy)) {
      bad(file, `history epoch ${i}: expected {epoch, ce, jsd (number or null), accuracy}`);
    }
  });
  return raw as unknown as RunHistory;
}

/** threshold.json must agree with detector.json, or predict and the report would disagree. */
export function parseThreshold(raw: unknown, file: string, detector: DetectorSpec): ThresholdFile {
  if (!isObject(raw) || !isNum(raw.gamma) || !isNum(raw.tpr)) bad(file, 'threshold: expected {gamma, tpr, on, score}');
  if (raw.gamma !== detector.threshold.gamma || raw.tpr !== detector.threshold.tpr) {
    throw new AresError(`threshold.json (γ = ${raw.gamma}) disagrees with detector.json (γ = ${detector.threshold.gamma}); rewrite the run or fix one of them`, { file });
  }
  return raw as unknown as ThresholdFile;
}
