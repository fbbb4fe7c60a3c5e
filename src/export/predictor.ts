/**
 * A loaded detector: model + detector description → "class k" or "unknown" per image.
 * tfjs only (plus the pure score module), so Node and the browser share it.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { DetectorSpec } from '../run/detector.js';
import { accepts, argmax, scoreRow, softmax } from '../run/score.js';
import { toModelInput, type DetectorInput } from './input.js';

export const UNKNOWN = 'unknown';

export interface Prediction {
  /** The predicted class name, or 'unknown' when the score is below γ. */
  label: string;
  /** Index of the top class (also reported when the image is rejected). */
  classIndex: number;
  /** Higher = more in-distribution (−energy or MSP, as the detector says). */
  score: number;
  /** score ≥ γ. */
  accepted: boolean;
  /** Softmax over the classes, when asked for. */
  probabilities?: number[];
}

export interface PredictOptions {
  probabilities?: boolean;
  /** Images per forward pass (memory bound). Default 64. */
  batchSize?: number;
}

export interface Detector {
  readonly classNames: string[];
  readonly spec: DetectorSpec;
  readonly model: tf.LayersModel;
  /** Classifies each image, or answers 'unknown'. Does not dispose the input. */
  predict(input: DetectorInput, opts?: PredictOptions): Promise<Prediction[]>;
  /** Raw logits [N, K] (row-major), for callers that score differently. */
  logits(input: DetectorInput, batchSize?: number): Promise<{ values: Float32Array; numClasses: number }>;
  dispose(): void;
}

/** The logits output: the model is inputs → [logits, features], or inputs → logits. */
function logitsOf(out: tf.Tensor | tf.Tensor[]): tf.Tensor2D {
  return (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
}

export function createDetector(model: tf.LayersModel, spec: DetectorSpec): Detector {
  const K = spec.classNames.length;
  const outShape = model.outputs[0].shape;
  if (outShape[outShape.length - 1] !== K) {
    throw new AresError(`the model has ${outShape[outShape.length - 1]} outputs but the detector names ${K} classes`);
  }

  async function logits(input: DetectorInput, batchSize = 64) {
    const x = toModelInput(input, spec);
    try {
      const n = x.shape[0];
      const values = new Float32Array(n * K);
      for (let s = 0; s < n; s += batchSize) {
        const lg = tf.tidy(() => logitsOf(model.predict(x.slice(s, Math.min(batchSize, n - s))) as tf.Tensor | tf.Tensor[]));
        values.set(await lg.data() as Float32Array, s * K);
        lg.dispose();
      }
      return { values, numClasses: K };
    } finally {
      x.dispose();
    }
  }

  return {
    classNames: spec.classNames, spec, model, logits,
    async predict(input, opts = {}) {
      const { values } = await logits(input, opts.batchSize);
      const out: Prediction[] = [];
      for (let i = 0; i < values.length / K; i++) {
        const row = values.subarray(i * K, (i + 1) * K);
        const score = scoreRow(row, spec.score);
        const classIndex = argmax(row);
        const accepted = accepts(score, spec.threshold.gamma);
        out.push({
          label: accepted ? spec.classNames[classIndex] : UNKNOWN, classIndex, score, accepted,
          ...(opts.probabilities ? { probabilities: softmax(row) } : {}),
        });
      }
      return out;
    },
    dispose() { model.dispose(); },
  };
}
