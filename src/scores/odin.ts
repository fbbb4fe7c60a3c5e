import * as tf from '@tensorflow/tfjs';
import { AresError, NotFittedError } from '../errors.js';
import type { Classifier } from '../models/types.js';
import { maxSoftmax } from './msp.js';
import type { Detector } from './types.js';

/** ODIN reads the model and the inputs themselves: it is the one detector that needs more than one forward pass. */
export interface OdinIn {
  model: Classifier;
  /** Model-ready inputs [N, H, W, C] (normalised the way the model was trained). Not disposed. */
  inputs: tf.Tensor4D;
}

export interface OdinParams {
  /** Softmax temperature T; 1000 as in the ODIN paper. */
  temperature?: number;
  /**
   * Perturbation size ε in [0, 1] pixel units, 0.0014 as in the ODIN paper; or 'tune': chosen by fit()
   * on ID validation inputs alone, as the ε of `epsilonGrid` with the highest mean score on them
   * (the OOD-free criterion of Generalized ODIN, Hsu et al., 2020). Never tuned on OOD test sets.
   */
  epsilon?: number | 'tune';
  epsilonGrid?: readonly number[];
  /**
   * Per-channel std the inputs were divided by when normalised. ODIN's ε is a step in pixel units; on
   * normalised inputs channel c moves by ε / std_c (as ODIN's own code does). Omit when the model
   * reads unnormalised pixels.
   */
  inputStd?: readonly number[];
  /** Images per forward/backward pass. */
  batchSize?: number;
}

export interface OdinState {
  epsilon: number;
  /** Mean ID-validation score of each ε of the grid (the tuning record). */
  grid: { epsilon: number; meanScore: number }[];
}

/** Generalized ODIN's grid, plus the ODIN paper's 0.0014. */
export const ODIN_EPSILON_GRID: readonly number[] = [0, 0.0014, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08];

/**
 * ODIN (Liang et al., 2018): temperature-scaled max softmax after a small input perturbation that
 * raises the softmax score of the predicted class: x̃ = x − ε·sign(∇x CE(f(x)/T, ŷ)), score =
 * max softmax(f(x̃)/T). Higher = more in-distribution. With a fixed ε there is nothing to fit.
 */
export function odin(params: OdinParams = {}): Detector<OdinIn, OdinIn, OdinState> {
  const temperature = params.temperature ?? 1000;
  const epsilon = params.epsilon ?? 0.0014;
  const grid = params.epsilonGrid ?? ODIN_EPSILON_GRID;
  const batchSize = params.batchSize ?? 128;
  const inputStd = params.inputStd;
  if (!(temperature > 0)) throw new AresError(`odin: temperature must be > 0, got ${temperature}`);
  if (epsilon !== 'tune' && !(epsilon >= 0)) throw new AresError(`odin: epsilon must be >= 0 or "tune", got ${epsilon}`);
  let state: OdinState | null = null;
  const opts = { temperature, batchSize, inputStd };
  return {
    name: 'odin',
    params: { temperature, epsilon, epsilonGrid: epsilon === 'tune' ? grid : undefined, inputStd, batchSize },
    requiresFit: epsilon === 'tune',
    get state() { return state; },
    fit(data) {
      if (epsilon !== 'tune') return this;
      const scores = odinScores(data.model, data.inputs, grid, opts);
      const record = grid.map((e, k) => ({ epsilon: e, meanScore: scores[k].reduce((a, b) => a + b, 0) / scores[k].length }));
      // First maximum: on ties the smaller perturbation wins.
      const best = record.reduce((b, r) => (r.meanScore > b.meanScore ? r : b), record[0]);
      state = { epsilon: best.epsilon, grid: record };
      return this;
    },
    restore(s) {
      state = s;
      return this;
    },
    score(input) {
      const eps = epsilon === 'tune' ? state?.epsilon : epsilon;
      if (eps === undefined) throw new NotFittedError('odin');
      return odinScores(input.model, input.inputs, [eps], opts)[0];
    },
  };
}

/**
 * ODIN scores of every input for each ε of `epsilons` (one list per ε). The perturbation direction
 * does not depend on ε, so each batch takes one backward pass and one forward pass per ε.
 */
export function odinScores(model: Classifier, inputs: tf.Tensor4D, epsilons: readonly number[], opts: OdinRunOptions): Float64Array[] {
  const out = epsilons.map(() => new Float64Array(inputs.shape[0]));
  for (const { start, size } of odinBatches(inputs, opts)) {
    const logits = perturbedLogits(model, inputs, start, size, epsilons, opts);
    logits.forEach((l, k) => {
      out[k].set(maxSoftmax({ data: l.dataSync() as Float32Array, rows: size, cols: l.shape[1] }, opts.temperature), start);
      l.dispose();
    });
  }
  return out;
}

/** odinScores with awaited reads: the one that runs on webgpu (no synchronous reads in Node). Same numbers. */
export async function odinScoresAsync(model: Classifier, inputs: tf.Tensor4D, epsilons: readonly number[], opts: OdinRunOptions): Promise<Float64Array[]> {
  const out = epsilons.map(() => new Float64Array(inputs.shape[0]));
  for (const { start, size } of odinBatches(inputs, opts)) {
    const logits = perturbedLogits(model, inputs, start, size, epsilons, opts);
    try {
      for (let k = 0; k < logits.length; k++) {
        out[k].set(maxSoftmax({ data: await logits[k].data() as Float32Array, rows: size, cols: logits[k].shape[1] }, opts.temperature), start);
      }
    } finally {
      tf.dispose(logits);
    }
  }
  return out;
}

export interface OdinRunOptions { temperature: number; batchSize: number; inputStd?: readonly number[] }

function odinBatches(inputs: tf.Tensor4D, opts: OdinRunOptions): { start: number; size: number }[] {
  const n = inputs.shape[0];
  if (opts.inputStd && opts.inputStd.length !== inputs.shape[3]) {
    throw new AresError(`odin: inputStd has ${opts.inputStd.length} values for ${inputs.shape[3]} channels`);
  }
  const out = [];
  for (let start = 0; start < n; start += opts.batchSize) out.push({ start, size: Math.min(opts.batchSize, n - start) });
  return out;
}

/** Logits of the batch at `start` perturbed by each ε (the caller reads and disposes them). */
function perturbedLogits(model: Classifier, inputs: tf.Tensor4D, start: number, size: number, epsilons: readonly number[], opts: OdinRunOptions): tf.Tensor2D[] {
  return tf.tidy(() => {
    const x = tf.slice(inputs, [start, 0, 0, 0], [size, -1, -1, -1]);
    const step = epsilons.some((e) => e > 0) ? perturbationDirection(model, x, opts.temperature, opts.inputStd) : null;
    return epsilons.map((e) => (e > 0 && step ? model.apply(tf.sub(x, tf.mul(step, e)), false) : model.apply(x, false)).logits);
  });
}

/** sign(∇x CE(f(x)/T, ŷ)) with ŷ the predicted class, divided by the per-channel std when given. */
function perturbationDirection(model: Classifier, x: tf.Tensor4D, temperature: number, inputStd?: readonly number[]): tf.Tensor4D {
  const predicted = tf.oneHot(tf.argMax(model.apply(x, false).logits, 1), model.numClasses);
  const loss = (xx: tf.Tensor) => {
    const scaled = tf.div(model.apply(xx as tf.Tensor4D, false).logits, temperature);
    return tf.neg(tf.sum(tf.mul(predicted, tf.logSoftmax(scaled))));
  };
  const sign = tf.sign(tf.grad(loss)(x)) as tf.Tensor4D;
  return inputStd ? tf.div(sign, tf.tensor1d(inputStd as number[])) : sign;
}
