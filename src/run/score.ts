/**
 * The detector's score math on plain numbers. Deliberately free of tfjs and Node imports: the
 * browser loader, the Node loader and `ares predict` all run this same code on the logits, so a
 * score can only differ between them by what the backend's forward pass differs.
 *
 * Direction (design rule 1): higher = more in-distribution; an image is accepted iff score ≥ γ.
 */

import { AresError } from '../errors.js';
import { FITTED_SCORE_NAMES, LOGIT_SCORE_NAMES, isLogitScoreName } from '../scores/types.js';
import type { FittedScoreSpec } from '../scores/fitted.js';
import { maxLogit } from '../scores/mls.js';
import { genScore } from '../scores/gen.js';

/** How a model's outputs become one score. */
export type ScoreSpec =
  /** −E(x) = log Σ_k relu(w_k)·exp(f_k); `weights: null` means every w_k = 1 (plain logsumexp). */
  | { name: 'energy'; weights: number[] | null }
  /** Maximum softmax probability. */
  | { name: 'msp' }
  /** Maximum logit (src/scores/mls.ts). */
  | { name: 'mls' }
  /** Generalized entropy, −Σ over the top M softmax probabilities of p^γ(1 − p)^γ (src/scores/gen.ts). */
  | { name: 'gen'; gamma: number; topM: number }
  /** mahalanobis, knn, vim, rmds, react, ash or scale with its fitted state: reads the features too (src/scores/fitted.ts scores it). */
  | FittedScoreSpec;

export const SCORE_NAMES = [...LOGIT_SCORE_NAMES, ...FITTED_SCORE_NAMES] as const;

/** Whether the score reads the penultimate features besides the logits. */
export const needsFeatures = (spec: ScoreSpec): spec is FittedScoreSpec => !isLogitScoreName(spec.name);

type Row = ArrayLike<number>;

/**
 * log Σ_k relu(w_k)·exp(f_k), shifted by the largest contributing logit so exp never overflows.
 * Classes with relu(w_k) = 0 contribute nothing (and cannot set the shift); −Infinity only when
 * every weight is ≤ 0, which parseDetectorSpec refuses.
 */
export function energyScore(logits: Row, weights: Row | null = null): number {
  let m = -Infinity;
  for (let k = 0; k < logits.length; k++) {
    if (weights && !(weights[k] > 0)) continue;
    if (logits[k] > m) m = logits[k];
  }
  if (m === -Infinity) return -Infinity;
  let sum = 0;
  for (let k = 0; k < logits.length; k++) {
    const w = weights ? Math.max(0, weights[k]) : 1;
    if (w > 0) sum += w * Math.exp(logits[k] - m);
  }
  return m + Math.log(sum);
}

/** Softmax of one row (max-shifted). */
export function softmax(logits: Row): number[] {
  let m = -Infinity;
  for (let k = 0; k < logits.length; k++) if (logits[k] > m) m = logits[k];
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export function mspScore(logits: Row): number {
  return Math.max(...softmax(logits));
}

/** Index of the largest logit (first one on ties). */
export function argmax(row: Row): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

/** The score of one row of logits; feature-based scores cannot be computed from logits alone. */
export function scoreRow(logits: Row, spec: ScoreSpec): number {
  if (spec.name === 'msp') return mspScore(logits);
  if (spec.name === 'energy') return energyScore(logits, spec.weights);
  if (spec.name === 'mls') return maxLogit(logits);
  if (spec.name === 'gen') return genScore(logits, spec.gamma, spec.topM);
  throw new AresError(`the ${spec.name} score needs the penultimate features, not only logits`);
}

/** Scores of a row-major [n, k] logits matrix. */
export function scoreLogits(logits: Row, k: number, spec: ScoreSpec): Float64Array {
  const n = Math.floor(logits.length / k);
  const out = new Float64Array(n);
  const flat = ArrayBuffer.isView(logits) ? (logits as Float32Array | Float64Array) : Float64Array.from(logits);
  for (let i = 0; i < n; i++) out[i] = scoreRow(flat.subarray(i * k, (i + 1) * k), spec);
  return out;
}

/** The acceptance rule, in one place: score ≥ γ. */
export function accepts(score: number, gamma: number): boolean {
  return score >= gamma;
}
