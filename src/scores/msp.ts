import type { Detector, Matrix, OutputsIn } from './types.js';
import { readMatrix } from './types.js';

/**
 * Maximum softmax probability of each row of logits at temperature T: max_k softmax(f/T)_k,
 * computed as 1 / Σ_k exp((f_k − f_max)/T) in double precision, so it is exact even at T = 1000
 * where the probabilities differ in the 4th digit.
 */
export function maxSoftmax(logits: Matrix, temperature = 1): Float64Array {
  const { data, rows, cols } = logits;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, data[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp((data[r * cols + c] - max) / temperature);
    out[r] = 1 / sum;
  }
  return out;
}

/** MSP (Hendrycks & Gimpel, 2017): score = max softmax probability. Nothing to fit. */
export function msp(params: { temperature?: number } = {}): Detector<OutputsIn, unknown, never> {
  const temperature = params.temperature ?? 1;
  return {
    name: 'msp', params: { temperature }, requiresFit: false, state: null,
    fit() { return this; },
    restore() { return this; },
    score(input) { return maxSoftmax(readMatrix(input.logits, 'msp logits'), temperature); },
  };
}
