/**
 * A loaded detector: model + detector description → "class k" or "unknown" per image.
 * tfjs only (plus the pure score module), so Node and the browser share it.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { FORWARD_BUDGET_BYTES, disposeAfterError, forwardBatchSize, measureForwardMemory } from '../engine/memory.js';
import type { DetectorSpec } from '../run/detector.js';
import { accepts, argmax, needsFeatures, scoreRow, softmax } from '../run/score.js';
import { fittedScorer } from '../scores/fitted.js';
import { toModelInput, type DetectorInput } from './input.js';

export const UNKNOWN = 'unknown';

export interface Prediction {
  /** The predicted class name, or 'unknown' when the score is below γ or the class is declared unknown. */
  label: string;
  /** Index of the top class (also reported when the image is rejected). */
  classIndex: number;
  /** Higher = more in-distribution (−energy, MSP, MLS, GEN, or a feature-based score, as the detector says). */
  score: number;
  /** score ≥ γ. */
  accepted: boolean;
  /**
   * Present when the top class is one the detector was fitted without images of and that the fit
   * declared unknown (spec.unseenClasses, answer 'unknown'): the label is 'unknown' whatever the score.
   */
  declaredUnknown?: true;
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
  /** A layers model (outputs [logits, features]) or a graph model (spec.model names its nodes). */
  readonly model: tf.LayersModel | tf.GraphModel;
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

/** Scores of a batch: from the logits alone, or (the fitted scores: mahalanobis, knn, vim, rmds, react, ash, scale) from logits and features. */
type BatchScorer = (logits: Float32Array, features: Float32Array | null, n: number) => Float64Array;

function batchScorer(spec: DetectorSpec, K: number): BatchScorer {
  const s = spec.score;
  if (!needsFeatures(s)) return (logits, _f, n) => Float64Array.from({ length: n }, (_, i) => scoreRow(logits.subarray(i * K, (i + 1) * K), s));
  const score = fittedScorer(s);
  return (logits, features, n) => score({ logits: { data: logits, rows: n, cols: K }, features: { data: features!, rows: n, cols: features!.length / n } });
}

/** x → [logits, features?] tensors, and the features' width. */
interface Runner {
  run(x: tf.Tensor, withFeatures: boolean): tf.Tensor[];
  featureDim: number;
}

function layersRunner(model: tf.LayersModel, spec: DetectorSpec, K: number, withFeatures: boolean): Runner {
  const outShape = model.outputs[0].shape;
  if (outShape[outShape.length - 1] !== K) {
    throw new AresError(`the model has ${outShape[outShape.length - 1]} outputs but the detector names ${K} classes`);
  }
  if (withFeatures && (model.outputs.length < 2 || model.outputs[1].shape.length !== 2)) {
    throw new AresError(`the ${spec.score.name} score reads the penultimate features, but the model has no [N, d] features output`);
  }
  return {
    featureDim: withFeatures ? model.outputs[1].shape[1] as number : 0,
    run(x, keep) {
      const out = model.predict(x) as tf.Tensor | tf.Tensor[];
      return keep ? [logitsOf(out), (out as tf.Tensor[])[1]] : [logitsOf(out)];
    },
  };
}

/** A graph model runs to the nodes the spec names; one probe image checks they exist and their shapes. */
function graphRunner(model: tf.GraphModel, spec: DetectorSpec, K: number, withFeatures: boolean): Runner {
  const g = spec.model;
  if (!g) throw new AresError('the model is a tfjs graph model, but the detector description names no logits/features nodes (its "model" field)');
  if (withFeatures && !g.features) throw new AresError(`the ${spec.score.name} score reads features, but the detector names no features node`);
  const exec = (x: tf.Tensor, keep: boolean) => {
    const out = model.execute(x, keep ? [g.logits, g.features!] : [g.logits]);
    return Array.isArray(out) ? out : [out];
  };
  const shapes = tf.tidy(() => exec(tf.zeros([1, ...spec.inputShape]), withFeatures).map((t) => t.shape));
  if (shapes[0].length !== 2 || shapes[0][1] !== K) {
    throw new AresError(`graph node "${g.logits}" gives [${shapes[0].join(', ')}] but the detector names ${K} classes`);
  }
  if (withFeatures && shapes[1].length !== 2) throw new AresError(`graph node "${g.features}" gives [${shapes[1].join(', ')}], not [N, d] features`);
  return { featureDim: withFeatures ? shapes[1][1] as number : 0, run: exec };
}

/** Outputs whose prediction answers "unknown" whatever the score (empty unless the fit declared unseen classes unknown). */
export function declaredUnknownClasses(spec: DetectorSpec): Set<number> {
  return new Set(spec.unseenClasses?.answer === 'unknown' ? spec.unseenClasses.classes : []);
}

export function createDetector(model: tf.LayersModel | tf.GraphModel, spec: DetectorSpec): Detector {
  const K = spec.classNames.length;
  const declared = declaredUnknownClasses(spec);
  const withFeatures = needsFeatures(spec.score);
  const runner = model instanceof tf.GraphModel ? graphRunner(model, spec, K, withFeatures) : layersRunner(model, spec, K, withFeatures);
  if (!(model instanceof tf.GraphModel) && spec.model) throw new AresError('the detector description is for a tfjs graph model, but a layers model was given');
  const scoreBatch = batchScorer(spec, K);
  // Default batch: 64 images, fewer when a pass of 64 would hold more than the forward budget (a
  // 224×224 model holds tens of MB per image); measured on the first call.
  let sizedBatch: number | null = null;
  const defaultBatch = () => sizedBatch ??= forwardBatchSize(measureForwardMemory((x) => runner.run(x, withFeatures), spec.inputShape), FORWARD_BUDGET_BYTES, 64);

  /** Logits [N, K] and, when the score needs them, features [N, d] (row-major). */
  async function forward(input: DetectorInput, batchSize?: number, keepFeatures = withFeatures) {
    const x = await toModelInput(input, spec);
    let result: { values: Float32Array; features: Float32Array | null; n: number };
    try {
      const n = x.shape[0];
      const B = batchSize ?? (n > 0 ? defaultBatch() : 1);
      const values = new Float32Array(n * K);
      const d = keepFeatures ? runner.featureDim : 0;
      const features = keepFeatures ? new Float32Array(n * d) : null;
      for (let s = 0; s < n; s += B) {
        const outs = tf.tidy(() => runner.run(x.slice(s, Math.min(B, n - s)), keepFeatures));
        values.set(await outs[0].data() as Float32Array, s * K);
        if (features) features.set(await outs[1].data() as Float32Array, s * d);
        tf.dispose(outs);
      }
      result = { values, features, n };
    } catch (err) {
      disposeAfterError(err, x); // a failing clean-up must not hide what stopped the pass
      throw err;
    }
    x.dispose();
    return result;
  }

  return {
    classNames: spec.classNames, spec, model,
    async logits(input, batchSize) {
      const { values } = await forward(input, batchSize, false);
      return { values, numClasses: K };
    },
    async predict(input, opts = {}) {
      const { values, features, n } = await forward(input, opts.batchSize);
      const scores = scoreBatch(values, features, n);
      const out: Prediction[] = [];
      for (let i = 0; i < n; i++) {
        const row = values.subarray(i * K, (i + 1) * K);
        const score = scores[i];
        const classIndex = argmax(row);
        const accepted = accepts(score, spec.threshold.gamma);
        const unknownClass = declared.has(classIndex);
        out.push({
          label: accepted && !unknownClass ? spec.classNames[classIndex] : UNKNOWN, classIndex, score, accepted,
          ...(unknownClass ? { declaredUnknown: true as const } : {}),
          ...(opts.probabilities ? { probabilities: softmax(row) } : {}),
        });
      }
      return out;
    },
    dispose() { model.dispose(); },
  };
}
