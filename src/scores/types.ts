import type * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';

/** A row-major [rows, cols] matrix in plain memory: what a detector reads when no tensor is at hand. */
export interface Matrix {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

/** Either a 2-D tensor (read, never disposed, by the detector) or a plain matrix. */
export type Matrix2D = tf.Tensor2D | Matrix;

/** Precomputed outputs of one forward pass (design rule 3): every output-based detector scores these. */
export interface OutputsIn {
  /** f_cls(f_ext(x)): [N, K] */
  logits: Matrix2D;
  /** f_ext(x), the penultimate features: [N, d]. Needed only by feature-based detectors (Mahalanobis). */
  features?: Matrix2D;
}

/** The classifier's last layer, logits = h·kernel + bias (tfjs Dense layout). */
export interface LinearHead {
  /** [d, K] */
  kernel: Matrix;
  /** [K], or null for a head without bias. */
  bias: Float32Array | Float64Array | null;
}

/** Outputs of in-distribution *training* data with their labels, what fit() learns from. */
export interface LabelledOutputsIn extends OutputsIn {
  /** Class of each row, in [0, K). */
  labels: Int32Array | readonly number[];
  /** The classifier head's weights, when known (ViM's origin); detectors that do not need it ignore it. */
  head?: LinearHead;
}

export type DetectorName = 'msp' | 'odin' | 'energy' | 'mls' | 'gen' | 'mahalanobis' | 'knn' | 'vim' | 'rmds' | 'react' | 'ash' | 'scale';
export const DETECTOR_NAMES: readonly DetectorName[] = ['msp', 'odin', 'energy', 'mls', 'gen', 'mahalanobis', 'knn', 'vim', 'rmds', 'react', 'ash', 'scale'];

/** Scores computed from the logits alone (no features, no fitted state): any model can deploy them. */
export const LOGIT_SCORE_NAMES = ['energy', 'msp', 'mls', 'gen'] as const;
export type LogitScoreName = (typeof LOGIT_SCORE_NAMES)[number];
export const isLogitScoreName = (v: unknown): v is LogitScoreName => (LOGIT_SCORE_NAMES as readonly unknown[]).includes(v);

/**
 * Detectors with a state from fit that travels in detector.json (src/scores/fitted.ts): learned on
 * ID training features (mahalanobis, knn, vim, rmds, react's clip), or the classifier's final linear
 * layer that react, ash and scale push shaped features through.
 */
export const FITTED_SCORE_NAMES = ['mahalanobis', 'knn', 'vim', 'rmds', 'react', 'ash', 'scale'] as const;
export type FittedScoreName = (typeof FITTED_SCORE_NAMES)[number];

/**
 * A post-hoc OOD score on a trained model (design rule 2: independent of how the model was trained).
 *
 * Score direction: `score` returns one value per sample, and a HIGHER value means MORE
 * IN-DISTRIBUTION, for every detector. Metrics never flip signs.
 *
 * Lifecycle: the factory takes hyperparameters only (`params`). `fit` learns the fitted state from ID
 * data only and returns the detector itself; the state is kept apart from the hyperparameters and is
 * readable as `state` (null until fitted) and restorable with `restore`. Detectors with
 * `requiresFit` throw NotFittedError from `score` until fitted. The others (MSP, Energy, ODIN with a
 * fixed ε) have nothing to learn: `fit` is accepted and changes nothing, so a pipeline may call
 * `fit` on every detector alike.
 *
 * `In` is what `score` reads: precomputed outputs for all detectors except ODIN, which needs the
 * model and the inputs to perturb. `FitIn` is what `fit` reads.
 */
export interface Detector<In = OutputsIn, FitIn = LabelledOutputsIn, State = unknown> {
  readonly name: DetectorName;
  readonly params: Readonly<Record<string, number | string | boolean | readonly number[] | undefined>>;
  readonly requiresFit: boolean;
  fit(data: FitIn): this;
  score(input: In): Float64Array;
  /** The fitted state, or null before fit (always null for detectors with nothing to learn). */
  readonly state: State | null;
  restore(state: State): this;
  /**
   * Lines the user should read about the last fit (e.g. features of lower rank than their width, and
   * what the detector did about it); empty or absent when there is nothing to say.
   */
  readonly warnings?: readonly string[];
}

/**
 * Reads a Matrix2D into plain memory. Tensors are read synchronously (dataSync) and left alone:
 * the caller owns them.
 */
export function readMatrix(m: Matrix2D, what: string): Matrix {
  // Duck-typed rather than instanceof, so this module needs no tfjs at run time (the browser
  // loader imports it) and a tensor from another tfjs copy is still recognised.
  if (isTensor(m)) {
    if (m.rank !== 2) throw new AresError(`${what}: expected a 2-D tensor, got shape [${m.shape.join(', ')}]`);
    return { data: m.dataSync() as Float32Array, rows: m.shape[0], cols: m.shape[1] };
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new AresError(`${what}: ${m.data.length} values do not make a [${m.rows}, ${m.cols}] matrix`);
  }
  return m;
}

function isTensor(m: Matrix2D): m is tf.Tensor2D {
  return typeof (m as tf.Tensor).dataSync === 'function' && typeof (m as tf.Tensor).rank === 'number';
}

/** Checks that labels are one class in [0, numClasses) per row. */
export function checkLabels(labels: ArrayLike<number>, rows: number, numClasses: number, what: string): void {
  if (labels.length !== rows) throw new AresError(`${what}: ${labels.length} labels for ${rows} rows`);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new AresError(`${what}: label ${c} at row ${i} is not a class in [0, ${numClasses})`);
    }
  }
}
