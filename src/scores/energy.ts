import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { Detector, Matrix, OutputsIn } from './types.js';
import { readMatrix } from './types.js';

/**
 * The negative free energy of each row of logits, −E(x) = T·log Σ_k w_k·exp(f_k/T) with w_k = relu(w_k),
 * or T·logsumexp(f/T) without weights (Liu et al., 2020). Higher = more in-distribution.
 * Stable: the sum is shifted by its largest term a_k = f_k/T + log w_k. Classes whose relu(w_k) is 0
 * drop out of the sum exactly (no log 0); when every weight is 0 the sum is empty and −E = −Infinity.
 */
export function negativeEnergyScores(logits: Matrix, opts: { temperature?: number; weights?: ArrayLike<number> } = {}): Float64Array {
  const { data, rows, cols } = logits;
  const T = opts.temperature ?? 1;
  const logW = logWeights(cols, opts.weights);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, data[r * cols + c] / T + logW[c]);
    if (max === -Infinity) { out[r] = -Infinity; continue; }
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(data[r * cols + c] / T + logW[c] - max);
    out[r] = T * (max + Math.log(sum));
  }
  return out;
}

function logWeights(cols: number, weights?: ArrayLike<number>): Float64Array {
  const logW = new Float64Array(cols);
  if (!weights) return logW;
  if (weights.length !== cols) throw new AresError(`energy weights: ${weights.length} weights for ${cols} classes`);
  for (let c = 0; c < cols; c++) logW[c] = weights[c] > 0 ? Math.log(weights[c]) : -Infinity;
  return logW;
}

/**
 * −E(x) = log Σ_k relu(w_k)·exp(f_k) as a differentiable tensor, for training losses (ARES, VOS):
 * logits [B, K], weights [K] (optional) -> [B]. Computed as logsumexp(f + log relu(w)), which tfjs
 * shifts by the row maximum. A class with relu(w_k) = 0 gets log-weight −1e30 instead of −Infinity
 * (its term is exactly 0 whenever any class is active) and gradient 0, never NaN: the mask comes from
 * tf.step (whose gradient is 0) and the log is taken of a placeholder 1 where w_k <= 0.
 */
export function negativeEnergy(logits: tf.Tensor2D, weights?: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    if (!weights) return tf.logSumExp(logits, 1) as tf.Tensor1D;
    const active = tf.step(weights); // 1 where w_k > 0, else 0
    const safe = tf.add(tf.mul(weights, active), tf.sub(1, active));
    const logW = tf.add(tf.log(safe), tf.mul(tf.sub(active, 1), 1e30));
    return tf.logSumExp(tf.add(logits, logW), 1) as tf.Tensor1D;
  });
}

/**
 * Energy score (Liu et al., 2020): −E at temperature T (default 1). With `weights`, the learned w_k of
 * an ARES or VOS model: −E = T·log Σ relu(w_k) exp(f_k/T). Nothing to fit.
 */
export function energy(params: { temperature?: number; weights?: ArrayLike<number> } = {}): Detector<OutputsIn, unknown, never> {
  const temperature = params.temperature ?? 1;
  const weights = params.weights ? Array.from(params.weights) : undefined;
  return {
    name: 'energy', params: { temperature, weights }, requiresFit: false, state: null,
    fit() { return this; },
    restore() { return this; },
    score(input) { return negativeEnergyScores(readMatrix(input.logits, 'energy logits'), { temperature, weights }); },
  };
}
