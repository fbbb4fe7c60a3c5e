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
import { requireRotationHead, ROTATIONS, rotpredScores, rotpredScoresAsync } from '../methods/rotation.js';
import { initEngine } from '../engine/backend.js';
import { odinScoresAsync, type OdinRunOptions } from '../scores/odin.js';
import { FITTED_SCORE_NAMES } from '../scores/types.js';
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
  const out = emptyOutputs(model, set);
  let row = 0;
  for (const batch of forwardBatches(model, set, normalization, batchSize)) {
    tf.tidy(() => {
      const o = forwardBatch(model, batch.x, batch.size, set.shape);
      out.logits.data.set(o.logits.dataSync(), row * model.numClasses);
      out.features.data.set(o.features.dataSync(), row * model.featureDim);
    });
    row += batch.size;
  }
  return out;
}

/**
 * forwardSet with awaited reads: the one that runs on every backend, webgpu included (whose
 * tensors cannot be read synchronously in Node). Same kernels, so the same numbers as forwardSet.
 */
export async function forwardSetAsync(model: Classifier, set: ImageSet, normalization: Normalization, batchSize?: number): Promise<SetOutputs> {
  const out = emptyOutputs(model, set);
  let row = 0;
  for (const batch of forwardBatches(model, set, normalization, batchSize)) {
    const o = tf.tidy(() => forwardBatch(model, batch.x, batch.size, set.shape));
    try {
      out.logits.data.set(await o.logits.data() as Float32Array, row * model.numClasses);
      out.features.data.set(await o.features.data() as Float32Array, row * model.featureDim);
    } finally {
      tf.dispose([o.logits, o.features]);
    }
    row += batch.size;
  }
  return out;
}

function emptyOutputs(model: Classifier, set: ImageSet): SetOutputs & { logits: { data: Float32Array }; features: { data: Float32Array } } {
  const k = model.numClasses, d = model.featureDim;
  return {
    name: set.name, rows: set.count,
    logits: { data: new Float32Array(set.count * k), rows: set.count, cols: k },
    features: { data: new Float32Array(set.count * d), rows: set.count, cols: d },
    labels: set.labels,
  };
}

function forwardBatches(model: Classifier, set: ImageSet, normalization: Normalization, batchSize?: number) {
  return set.count === 0 ? [] : batches(set, { batchSize: batchSize ?? forwardBatchFor(model), shuffle: false, normalization });
}

function forwardBatch(model: Classifier, x: Float32Array, size: number, shape: ImageSet['shape']): { logits: tf.Tensor2D; features: tf.Tensor2D } {
  return model.apply(tf.tensor4d(x, [size, ...shape]), false);
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

/** The scores that run the model themselves (perturbed or rotated inputs) instead of reading a forward pass. */
type ModelScoreName = 'odin' | 'rotpred';

/**
 * Everything evaluate reads from the model, apart from the scoring that needs none of it: the
 * forward outputs of a set, the far validation sets' outputs (auto), the linear head's weights,
 * and the scores that run the model themselves. evaluate computes them as they are asked for;
 * evaluateAsync reads them all first with awaited reads.
 */
interface ModelReads {
  outputs(set: ImageSet): SetOutputs;
  far(): SetOutputs[];
  head(): { kernel: Float32Array; bias: Float32Array | null } | null;
  modelScores(name: ModelScoreName, set: ImageSet): Float64Array;
}

function checkedScoreNames(opts: EvaluateOptions): ScoreName[] {
  // auto's candidates share this one forward pass (and each its one fit) with the scores asked for.
  const asked = opts.scores ?? (opts.auto ? [] : ['energy']);
  for (const n of asked) if (!SCORE_NAMES.includes(n)) throw new AresError(`unknown score "${n}"; choose from ${SCORE_NAMES.join(', ')} or all`, { exitCode: 2 });
  return asked;
}

export function evaluate(model: Classifier, data: PreparedDataset, opts: EvaluateOptions = {}): EvaluationResult {
  const norm = data.normalization;
  const b = opts.batchSize;
  return evaluateWith(model, data, opts, {
    outputs: (set) => forwardSet(model, set, norm, b),
    far: () => autoValidationSetMakers(data, opts.seed ?? 0).map((make) => forwardSet(model, make(), norm, b)),
    head: () => model.headWeights?.() ?? null,
    modelScores: (name, set) => (name === 'odin'
      ? withInputs(set, norm, (inputs) => odinDetector(model, data, opts).score({ model, inputs }))
      : rotpredScores(model, set, norm, rotpredBatch(model, opts))),
  });
}

/**
 * evaluate with awaited reads, for every backend and the one for webgpu: forward passes, ODIN and
 * rotpred run on the current backend (the GPU) and are read with await first; then the scoring,
 * which reads only those plain arrays, runs as evaluate's does. On wasm and cpu the numbers are
 * evaluate's, bit for bit (the same kernels on the same batches).
 */
export async function evaluateAsync(model: Classifier, data: PreparedDataset, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  const asked = checkedScoreNames(opts);
  const norm = data.normalization;
  const b = opts.batchSize;
  // Read ahead only what the scoring will ask for: the training set only for fitted scores.
  const fits = opts.auto || asked.some((n) => (FITTED_SCORE_NAMES as readonly string[]).includes(n));
  const sets = [data.test, data.val, ...data.ood, ...data.valOod, ...(fits ? [data.train] : [])];
  const outputs = new Map<ImageSet, SetOutputs>();
  for (const set of sets) if (!outputs.has(set)) outputs.set(set, await forwardSetAsync(model, set, norm, b));
  const far: SetOutputs[] = [];
  // One generated set at a time, as evaluate makes them (each may be tens of MB).
  if (opts.auto) for (const make of autoValidationSetMakers(data, opts.seed ?? 0)) far.push(await forwardSetAsync(model, make(), norm, b));
  const head = fits ? await (model.headWeightsAsync?.() ?? model.headWeights?.() ?? null) : null;
  const modelScores = new Map<ModelScoreName, Map<ImageSet, Float64Array>>();
  for (const name of asked) {
    if (name !== 'odin' && name !== 'rotpred') continue;
    const bySet = new Map<ImageSet, Float64Array>();
    for (const set of sets) {
      if (set === data.train || bySet.has(set)) continue;
      bySet.set(set, name === 'odin'
        ? await withInputsAsync(set, norm, async (inputs) => {
          const det = odinDetector(model, data, opts);
          return (await odinScoresAsync(model, inputs, [det.params.epsilon as number], odinRunOptions(det)))[0];
        })
        : await rotpredScoresAsync(model, set, norm, rotpredBatch(model, opts)));
    }
    modelScores.set(name, bySet);
  }
  const reads: ModelReads = {
    outputs: (set) => outputs.get(set) ?? bug(`no outputs read for ${set.name}`),
    far: () => far,
    head: () => head,
    modelScores: (name, set) => modelScores.get(name)?.get(set) ?? bug(`no ${name} scores read for ${set.name}`),
  };
  return onSyncReadableBackend(() => evaluateWith(model, data, opts, reads));
}

function bug(what: string): never {
  throw new Error(`evaluateAsync: ${what}`);
}

/**
 * Runs `f`, which reads no model tensors, on a backend with synchronous reads: knn's matrix product
 * and top-k (src/scores/knn.ts) read their result with dataSync, which webgpu cannot do in Node. The
 * inputs are plain arrays, so they are uploaded to wasm as they are; webgpu is current again after.
 */
async function onSyncReadableBackend<T>(f: () => T): Promise<T> {
  if (tf.getBackend() !== 'webgpu') return f();
  await initEngine({ backend: 'wasm' });
  try {
    return f();
  } finally {
    await initEngine({ backend: 'webgpu' });
  }
}

function evaluateWith(model: Classifier, data: PreparedDataset, opts: EvaluateOptions, reads: ModelReads): EvaluationResult {
  const asked = checkedScoreNames(opts);
  const tpr = opts.tpr ?? 0.95;
  const test = reads.outputs(data.test);
  const val = reads.outputs(data.val);
  const ood = data.ood.map((s) => reads.outputs(s));
  const valOod = data.valOod.map((s) => reads.outputs(s));
  const acc = accuracy(argmaxRows(test.logits.data, model.numClasses), test.labels!);

  const result: EvaluationResult = { accuracy: acc, thresholds: {}, tpr, ood: [], valOod: [], fitted: {}, warnings: [], scores: {}, outputs: { test, ood, valOod } };
  // One forward pass over the ID training set serves every detector fitted on it.
  let trainData: LabelledOutputsIn | null = null;
  const fitData = () => trainData ??= trainingOutputs(model, data, reads);
  const scorers: Partial<Record<ScoreName, (o: SetOutputs, set: ImageSet) => Float64Array>> = {};
  const scorerOf = (name: ScoreName) => scorers[name] ??= scorer(name, opts, fitData, result, reads);
  const valCache: Partial<Record<ScoreName, Float64Array>> = {};
  const valScoresOf = (name: ScoreName) => valCache[name] ??= scorerOf(name)(val, data.val);
  if (opts.auto) {
    // The candidates are scored on validation data only; the test split is scored below for the
    // pick (and the scores asked for), so auto costs no test-set scoring of the others.
    const far = reads.far();
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

/** A function from a set's outputs (and, for ODIN and rotpred, its images) to scores, higher = more in-distribution. */
function scorer(name: ScoreName, opts: EvaluateOptions, fitData: () => LabelledOutputsIn, result: EvaluationResult,
  reads: ModelReads): (o: SetOutputs, set: ImageSet) => Float64Array {
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
    case 'odin':
    case 'rotpred':
      return (_o, set) => reads.modelScores(name, set);
  }
}

/** ODIN as evaluate runs it. */
function odinDetector(model: Classifier, data: PreparedDataset, opts: EvaluateOptions) {
  // ε fixed as in the ODIN paper (T = 1000, ε = 0.0014): no OOD data is used to choose it.
  // Its passes keep gradients too: half the forward batch, at most ODIN's own 128 (small models keep 128).
  const batchSize = Math.max(1, Math.min(128, Math.floor((opts.batchSize ?? forwardBatchFor(model)) / 2)));
  return odin({ inputStd: data.normalization.std, batchSize });
}

/** The options odinScores runs `det` with. */
function odinRunOptions(det: ReturnType<typeof odin>): OdinRunOptions {
  const p = det.params;
  return { temperature: p.temperature as number, batchSize: p.batchSize as number, inputStd: p.inputStd as readonly number[] | undefined };
}

/** rotpred's batch: four forward passes per image (its rotations), so a quarter of the forward batch. */
function rotpredBatch(model: Classifier, opts: EvaluateOptions): number {
  requireRotationHead(model);
  return Math.max(1, Math.floor((opts.batchSize ?? forwardBatchFor(model)) / ROTATIONS));
}

/** Logits, features and labels of the ID training set, plus the head's weights when it is linear. */
function trainingOutputs(model: Classifier, data: PreparedDataset, reads: ModelReads): LabelledOutputsIn {
  const train = reads.outputs(data.train);
  const w = reads.head();
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
  const t = normalizedInputs(set, norm);
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

async function withInputsAsync<T>(set: ImageSet, norm: Normalization, f: (x: tf.Tensor4D) => Promise<T>): Promise<T> {
  const t = normalizedInputs(set, norm);
  let result: T;
  try {
    result = await f(t);
  } catch (err) {
    disposeAfterError(err, t);
    throw err;
  }
  t.dispose();
  return result;
}

function normalizedInputs(set: ImageSet, norm: Normalization): tf.Tensor4D {
  const x = new Float32Array(set.images);
  const c = set.shape[2];
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - norm.mean[i % c]) / norm.std[i % c];
  return tf.tensor4d(x, [set.count, ...set.shape]);
}
