/**
 * GEN, the generalized entropy score (Liu, Lochman & Zach, CVPR 2023, "GEN: Pushing the limits of
 * softmax-based out-of-distribution detection"):
 *
 *   p = softmax(f(x));  p_(1) ≥ p_(2) ≥ … the probabilities sorted high to low
 *   G_γ(p) = Σ_{j=1..M'} p_(j)^γ (1 − p_(j))^γ,   M' = min(M, K)
 *   score(x) = −G_γ(p)   (higher = more in-distribution: a peaked p has a small G)
 *
 * Defaults γ = 0.1 and M = 100, the paper's (and OpenOOD's GEN postprocessor: softmax, the top M
 * sorted probabilities, the negated sum). With fewer than M classes every probability counts.
 * Nothing to fit. Pure (no tfjs at run time): the exported loader scores with it.
 */
import { AresError } from '../errors.js';
import type { Detector, Matrix, OutputsIn } from './types.js';
import { readMatrix } from './types.js';

export interface GenParams {
  /** γ in (0, 1): the exponent of the generalized entropy. */
  gamma?: number;
  /** M ≥ 1: how many of the largest probabilities count. */
  topM?: number;
}

export const GEN_DEFAULTS = { gamma: 0.1, topM: 100 } as const;

/** Checks GEN's hyperparameters; `what` names where they came from in the message. */
export function checkGenParams(gamma: number, topM: number, what = 'gen'): void {
  if (!(gamma > 0 && gamma < 1)) throw new AresError(`${what}: gamma must be in (0, 1), got ${gamma}`);
  if (!Number.isInteger(topM) || topM < 1) throw new AresError(`${what}: topM must be a positive integer, got ${topM}`);
}

/** −Σ over the top M softmax probabilities of p^γ (1 − p)^γ, for one row of logits. */
export function genScore(row: ArrayLike<number>, gamma: number = GEN_DEFAULTS.gamma, topM: number = GEN_DEFAULTS.topM): number {
  const K = row.length;
  let max = -Infinity;
  for (let k = 0; k < K; k++) if (row[k] > max) max = row[k];
  const p = new Float64Array(K);
  let sum = 0;
  for (let k = 0; k < K; k++) { p[k] = Math.exp(row[k] - max); sum += p[k]; }
  for (let k = 0; k < K; k++) p[k] /= sum;
  // Only which probabilities are the M largest matters, not their order; sorting is simplest.
  if (topM < K) p.sort().reverse();
  const m = Math.min(topM, K);
  let g = 0;
  for (let j = 0; j < m; j++) g += Math.pow(p[j], gamma) * Math.pow(1 - p[j], gamma);
  return -g;
}

/** genScore per row of a [N, K] matrix. */
export function genScores(logits: Matrix, gamma: number = GEN_DEFAULTS.gamma, topM: number = GEN_DEFAULTS.topM): Float64Array {
  const { data, rows, cols } = logits;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = genScore(data.subarray(r * cols, (r + 1) * cols), gamma, topM);
  return out;
}

export function gen(params: GenParams = {}): Detector<OutputsIn, unknown, never> {
  const gamma = params.gamma ?? GEN_DEFAULTS.gamma;
  const topM = params.topM ?? GEN_DEFAULTS.topM;
  checkGenParams(gamma, topM);
  return {
    name: 'gen', params: { gamma, topM }, requiresFit: false, state: null,
    fit() { return this; },
    restore() { return this; },
    score(input) { return genScores(readMatrix(input.logits, 'gen logits'), gamma, topM); },
  };
}
