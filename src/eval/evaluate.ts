/**
 * Evaluation of a trained model: one forward pass per set serves every output-based detector
 * (design rule 3); ODIN, which perturbs inputs, runs its own passes. γ is set on ID validation data
 * only; test OOD sets are only ever scored.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { batches } from '../data/batches.js';
import { disposeAfterError, forwardBatchSize, measureForwardMemory } from '../engine/memory.js';
import type { PreparedDataset } from '../data/prepare.js';
import type { ImageSet, Normalization } from '../data/types.js';
import { ash, energy, fittedScoreSpec, gen, GEN_DEFAULTS, knn, mahalanobis, mls, msp, odin, react, rmds, scale, vim, type Detector, type FittedScoreSpec, type LabelledOutputsIn, type Matrix, type OutputsIn } from '../scores/index.js';
import { accuracy, argmaxRows, oodMetrics, thresholdAtTpr, type OodMetrics } from '../metrics/index.js';
import type { Classifier } from '../models/types.js';
import type { DetectorSpec } from '../run/detector.js';
import { requireRotationHead, ROTATIONS, rotpredScores } from '../methods/rotation.js';
import { AUTO_CANDIDATES, autoValidationSetMakers, selectScore, type AutoCandidate, type ScoreSelection } from './auto-score.js';

export type ScoreName = 'energy' | 'msp' | 'mls' | 'gen' | 'odin' | 'mahalanobis' | 'knn' | 'vim' | 'rmds' | 'react' | 'ash' | 'scale' | 'rotpred';
export const SCORE_NAMES: readonly ScoreName[] = ['energy', 'msp', 'mls', 'gen', 'odin', 'mahalanobis', 'knn', 'vim', 'rmds', 'react', 'ash', 'scale', 'rotpred'];
/** Scores only some models have (rotpred: the rotation methods' head), so not among `all`. */
export const MODEL_SPECIFIC_SCORES: readonly ScoreName[] = ['rotpred'];

/** Logits and features of every image of a set, row-major. */
export interface SetOutputs {
  name: string;
  rows: number;
  logits: Matrix;
  features: Matrix;
  labels?: Int32Array;
}

/** Batch size per classifier, measured once (the sets of one evaluation share it). */
const measuredBatch = new WeakMap<Classifier, number>();

/**
 * The forward batch for `model`: as many images as keep one pass's activations under
 * FORWARD_BUDGET_BYTES (src/engine/memory.ts), at most 256. Small models get 256, the size every
 * pass used before; a 224×224 MobileNetV2 gets a few images.
 */
export function forwardBatchFor(model: Classifier): number {
  let b = measuredBatch.get(model);
  if (b === undefined) {
    b = forwardBatchSize(measureForwardMemory((x) => model.apply(x, false), model.inputShape));
    measuredBatch.set(model, b);
  }
  return b;
}

/** Logits and features of every image of `set`; `batchSize` defaults to forwardBatchFor(model). */
export function forwardSet(model: Classifier, set: ImageSet, normalization: Normalization, batchSize?: number): SetOutputs {
  const k = model.numClasses, d = model.featureDim;
  const logits = new Float32Array(set.count * k);
  const features = new Float32Array(set.count * d);
  if (set.count === 0) return { name: set.name, rows: 0, logits: { data: logits, rows: 0, cols: k }, features: { data: features, rows: 0, cols: d }, labels: set.labels };
  let row = 0;
  for (const batch of batches(set, { batchSize: batchSize ?? forwardBatchFor(model), shuffle: false, normalization })) {
    tf.tidy(() => {
      const out = model.apply(tf.tensor4d(batch.x, [batch.size, ...set.shape]), false);
      logits.set(out.logits.dataSync(), row * k);
      features.set(out.features.dataSync(), row * d);
    });
    row += batch.size;
  }
  return {
    name: set.name, rows: set.count,
    logits: { data: logits, rows: set.count, cols: k },
    features: { data: features, rows: set.count, cols: d },
    labels: set.labels,
  };
}

export interface ScoredSet { name: string; scores: Float64Array }

export interface EvaluationResult {
  /** ID test accuracy (fraction). */
  accuracy: number;
  /** Acceptance threshold per score, set on ID validation data at `tpr`. */
  thresholds: Record<string, number>;
  tpr: number;
  /** One row per (OOD test set, score). */
  ood: { ood: string; score: ScoreName; metrics: OodMetrics }[];
  /** The same for the validation OOD sets (model selection only; never a test set). */
  valOod: { ood: string; score: ScoreName; metrics: OodMetrics }[];
  /** Fitted state of each feature-based score (mahalanobis, knn, vim, rmds, react, ash, scale), as detector.json stores it. */
  fitted: Partial<Record<ScoreName, FittedScoreSpec>>;
  /** What the fitted scores said about their fit (e.g. rank-deficient features): one line each. */
  warnings: string[];
  /** Raw scores, for the report's histograms and ROC curves. */
  scores: Record<string, { id: Float64Array; val: Float64Array; ood: ScoredSet[]; valOod: ScoredSet[] }>;
  outputs: { test: SetOutputs; ood: SetOutputs[]; valOod: SetOutputs[] };
  /** With `auto`: every candidate's validation numbers and the score the rule picked. */
  selection?: ScoreSelection;
}

export interface EvaluateOptions {
  scores?: ScoreName[];
  /** Learned energy weights w_k (ares, vos): the energy score uses them. */
  energyWeights?: Float32Array | null;
  tpr?: number;
  /** Images per forward pass; default: sized to the model's memory (forwardBatchFor). */
  batchSize?: number;
  /** Also evaluate every deployable score and pick one by the rule of src/eval/auto-score.ts. */
  auto?: boolean;
  /** Seed of auto's generated validation sets (the run's seed). */
  seed?: number;
  /** auto's candidates (default all deployable scores). */
  autoCandidates?: readonly AutoCandidate[];
}

export function evaluate(model: Classifier, data: PreparedDataset, opts: EvaluateOptions = {}): EvaluationResult {
  // auto's candidates share this one forward pass (and each its one fit) with the scores asked for.
  const asked = opts.scores ?? (opts.auto ? [] : ['energy']);
  for (const n of asked) if (!SCORE_NAMES.includes(n)) throw new AresError(`unknown score "${n}"; choose from ${SCORE_NAMES.join(', ')} or all`, { exitCode: 2 });
  const tpr = opts.tpr ?? 0.95;
  const norm = data.normalization;
  const b = opts.batchSize;
  const test = forwardSet(model, data.test, norm, b);
  const val = forwardSet(model, data.val, norm, b);
  const ood = data.ood.map((s) => forwardSet(model, s, norm, b));
  const valOod = data.valOod.map((s) => forwardSet(model, s, norm, b));
  const acc = accuracy(argmaxRows(test.logits.data, model.numClasses), test.labels!);

  const result: EvaluationResult = { accuracy: acc, thresholds: {}, tpr, ood: [], valOod: [], fitted: {}, warnings: [], scores: {}, outputs: { test, ood, valOod } };
  // One forward pass over the ID training set serves every detector fitted on it.
  let trainData: LabelledOutputsIn | null = null;
  const fitData = () => trainData ??= trainingOutputs(model, data, b);
  const scorers: Partial<Record<ScoreName, (o: SetOutputs, set: ImageSet) => Float64Array>> = {};
  const scorerOf = (name: ScoreName) => scorers[name] ??= scorer(name, model, data, opts, fitData, result);
  const valCache: Partial<Record<ScoreName, Float64Array>> = {};
  const valScoresOf = (name: ScoreName) => valCache[name] ??= scorerOf(name)(val, data.val);
  if (opts.auto) {
    // The candidates are scored on validation data only; the test split is scored below for the
    // pick (and the scores asked for), so auto costs no test-set scoring of the others.
    const far = autoValidationSetMakers(data, opts.seed ?? 0).map((make) => forwardSet(model, make(), norm, b));
    const candidates = opts.autoCandidates ?? AUTO_CANDIDATES;
    const pick = <T>(f: (name: AutoCandidate) => T) => Object.fromEntries(candidates.map((n) => [n, f(n)])) as Partial<Record<AutoCandidate, T>>;
    // A candidate that cannot be fitted on this data (knn with fewer training images than k) is
    // out of the choice, with the reason in the selection record, not the end of the fit.
    const failures: Partial<Record<AutoCandidate, string>> = {};
    const valScores: Partial<Record<AutoCandidate, Float64Array>> = {};
    for (const n of candidates) {
      try {
        valScores[n] = valScoresOf(n);
      } catch (err) {
        if (!(err instanceof AresError)) throw err;
        failures[n] = err.message;
      }
    }
    result.selection = selectScore({
      tpr, val, far, train: fitData, classNames: data.classNames, energyWeights: opts.energyWeights ?? null, candidates,
      valScores, failures,
      // The far sets are images the scorer never needs (no candidate perturbs inputs).
      scorers: pick((n) => (o) => scorerOf(n)(o as SetOutputs, data.val)),
    });
  }
  const evaluated = result.selection ? [...new Set([...asked, result.selection.chosen])] : asked;
  for (const name of evaluated) {
    const score = scorerOf(name);
    const idScores = score(test, data.test);
    const valScores = valScoresOf(name);
    const oodScores = ood.map((o, i) => ({ name: o.name, scores: score(o, data.ood[i]) }));
    const valOodScores = valOod.map((o, i) => ({ name: o.name, scores: score(o, data.valOod[i]) }));
    result.thresholds[name] = thresholdAtTpr(valScores, tpr);
    result.scores[name] = { id: idScores, val: valScores, ood: oodScores, valOod: valOodScores };
    for (const o of oodScores) result.ood.push({ ood: o.name, score: name, metrics: oodMetrics(idScores, o.scores, { tpr }) });
    // Validation OOD sets are compared with the ID *validation* scores: the test split must not
    // take part in any choice made on validation results.
    for (const o of valOodScores) result.valOod.push({ ood: o.name, score: name, metrics: oodMetrics(valScores, o.scores, { tpr }) });
  }
  return result;
}

/** A function from a set's outputs (and, for ODIN, its images) to scores, higher = more in-distribution. */
function scorer(name: ScoreName, model: Classifier, data: PreparedDataset, opts: EvaluateOptions,
  fitData: () => LabelledOutputsIn, result: EvaluationResult): (o: SetOutputs, set: ImageSet) => Float64Array {
  // Detectors fitted on ID *training* outputs (never validation or OOD data), with their defaults.
  const fitted = (det: Detector<OutputsIn, LabelledOutputsIn, unknown>) => {
    det.fit(fitData());
    result.warnings.push(...(det.warnings ?? []));
    result.fitted[name] = fittedScoreSpec(det);
    return (o: SetOutputs) => det.score(o);
  };
  switch (name) {
    case 'energy': {
      const det = energy({ weights: opts.energyWeights ?? undefined });
      return (o) => det.score(o);
    }
    case 'msp': {
      const det = msp();
      return (o) => det.score(o);
    }
    case 'mls': {
      const det = mls();
      return (o) => det.score(o);
    }
    case 'gen': {
      const det = gen();
      return (o) => det.score(o);
    }
    case 'mahalanobis': return fitted(mahalanobis());
    case 'knn': return fitted(knn());
    case 'vim': return fitted(vim());
    case 'rmds': return fitted(rmds());
    case 'react': return fitted(react());
    case 'ash': return fitted(ash());
    case 'scale': return fitted(scale());
    case 'odin': {
      // ε fixed as in the ODIN paper (T = 1000, ε = 0.0014): no OOD data is used to choose it.
      // Its passes keep gradients too: half the forward batch, at most ODIN's own 128 (small models keep 128).
      const batchSize = Math.max(1, Math.min(128, Math.floor((opts.batchSize ?? forwardBatchFor(model)) / 2)));
      const det = odin({ inputStd: data.normalization.std, batchSize });
      return (_o, set) => withInputs(set, data.normalization, (inputs) => det.score({ model, inputs }));
    }
    case 'rotpred': {
      // Four forward passes per image (its rotations), like ODIN its own: a quarter of the forward batch.
      requireRotationHead(model);
      const batchSize = Math.max(1, Math.floor((opts.batchSize ?? forwardBatchFor(model)) / ROTATIONS));
      return (_o, set) => rotpredScores(model, set, data.normalization, batchSize);
    }
  }
}

/** Logits, features and labels of the ID training set, plus the head's weights when it is linear. */
function trainingOutputs(model: Classifier, data: PreparedDataset, batchSize?: number): LabelledOutputsIn {
  const train = forwardSet(model, data.train, data.normalization, batchSize);
  const w = model.headWeights?.() ?? null;
  return {
    logits: train.logits, features: train.features, labels: data.train.labels!,
    ...(w ? { head: { kernel: { data: w.kernel, rows: model.featureDim, cols: model.numClasses }, bias: w.bias } } : {}),
  };
}

/**
 * `base` with its score replaced by `name` as this evaluation fitted it, and γ by that score's
 * threshold on ID validation data: what `ares eval --detector` stores so that predict and export use
 * that score. ODIN cannot be stored (it perturbs inputs with gradients at prediction time).
 */
export function detectorWithScore(base: DetectorSpec, e: EvaluationResult, name: ScoreName, energyWeights: ArrayLike<number> | null = null): DetectorSpec {
  if (!(name in e.thresholds)) throw new AresError(`the evaluation has no "${name}" score to store`, { exitCode: 2 });
  let score: DetectorSpec['score'];
  if (name === 'odin') throw new AresError('odin cannot be stored as the detector (it needs gradients at prediction time); choose another score', { exitCode: 2 });
  else if (name === 'rotpred') throw new AresError('rotpred cannot be stored as the detector (predict and export run one forward pass per image, rotpred four); choose another score', { exitCode: 2 });
  else if (name === 'energy') score = { name, weights: energyWeights ? Array.from(energyWeights) : null };
  else if (name === 'msp' || name === 'mls') score = { name };
  else if (name === 'gen') score = { name, ...GEN_DEFAULTS };
  else score = e.fitted[name]!;
  const { energyWeights: _old, ...rest } = base;
  const keepWeights = name !== 'energy' && energyWeights ? { energyWeights: Array.from(energyWeights) } : {};
  return { ...rest, score, threshold: { gamma: e.thresholds[name], tpr: e.tpr, on: 'id-validation' }, ...keepWeights };
}

function withInputs<T>(set: ImageSet, norm: Normalization, f: (x: tf.Tensor4D) => T): T {
  const x = new Float32Array(set.images);
  const c = set.shape[2];
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - norm.mean[i % c]) / norm.std[i % c];
  const t = tf.tensor4d(x, [set.count, ...set.shape]);
  let result: T;
  try {
    result = f(t);
  } catch (err) {
    disposeAfterError(err, t); // a failing clean-up must not hide the error that stopped f
    throw err;
  }
  t.dispose();
  return result;
}
