/**
 * `ares fit` / fit(): post-hoc OOD detection on a classifier the user already has. Nothing is
 * trained: every requested score is fitted on ID training images, γ is set on held-out ID validation
 * images at the chosen TPR (never on OOD data), any OOD sets are evaluated, and — with `out` — a run
 * folder is written that predict, eval, export and report read like one from `ares train`.
 */
import type * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AresError } from '../errors.js';
import { checkNormalization } from '../data/normalize.js';
import { conformSet } from '../data/transform.js';
import { DEFAULT_RESIZE, type ResizeMode } from '../data/input-contract.js';
import type { PreparedDataset } from '../data/prepare.js';
import type { ImageSet, Normalization } from '../data/types.js';
import { initEngine, type EngineInfo } from '../engine/backend.js';
import { disposeAfterError } from '../engine/memory.js';
import { scoreArraysOf } from '../eval/score-arrays.js';
import { AUTO_CANDIDATES, LOGIT_CANDIDATES, type ScoreSelection } from '../eval/auto-score.js';
import { evaluateAsync, forwardBatchFor, forwardSetAsync, SCORE_NAMES, type EvaluationResult, type ScoreName } from '../eval/evaluate.js';
import { createDetector, type Detector } from '../export/predictor.js';
import { isGraphModelJson, parseModelJsonText, validateModelJson, type ModelJson } from '../export/model-json.js';
import { fromGraph } from '../models/graph-classifier.js';
import { fromLayers } from '../models/layers-classifier.js';
import type { Classifier, ModelName } from '../models/types.js';
import { featureGroupsOf, metricRow, rejectedShare, type RunMetrics } from '../pipeline/run-folder.js';
import { prepareForConfig, type DataConfig } from '../pipeline/train-run.js';
import { writeReport } from '../report/read.js';
import { DETECTOR_VERSION, type DetectorSpec, type GraphModelSpec, type UnseenClassAnswer, type UnseenClassesSpec } from '../run/detector.js';
import { claimRunFolder, writeRun } from '../run/folder.js';
import { fsError, withFsErrors } from '../util/fs.js';
import { copyModelFiles, loadGraphModelFromDir, readModelJsonText, saveLayersModelKeepingWeights } from '../run/model-io.js';
import { SCORE_NAMES as DEPLOYABLE, type ScoreSpec } from '../run/score.js';
import { GEN_DEFAULTS } from '../scores/gen.js';
import type { RunArtifacts } from '../run/types.js';
import { argmaxRows } from '../metrics/summary.js';
import { matchClasses, type ClassMatch, type MatchBy } from './classes.js';
import { accuracyWarningLevel, alignClasses, checkUnseenAnswer, labelByModel } from './labels.js';

export { accuracyWarningLevel } from './labels.js';
import { chooseGraphNodes, describeGraphLogits } from './graph-model.js';
import { describeLogits, loadUserModel, modelJsonPath, readMetadata, toClassifierParts, type ClassifierParts, type LoadedUserModel, type LogitsSource } from './load-tfjs-model.js';

export interface FitOptions {
  /** OOD test sets to evaluate (never used for any choice). */
  ood?: string[];
  /** Keep only these ID classes of the source (in this order, before matching to the outputs). */
  idClasses?: number[];
  /** At most this many ID training images (before the validation split), ID test images, and images per OOD set. */
  limit?: number;
  valFraction?: number;
  seed?: number;
  /**
   * Scores to fit and evaluate (default ['auto']). With 'auto', every deployable score is fitted and
   * the one the rule of src/eval/auto-score.ts picks on validation data is deployed; without it,
   * the first listed one a detector.json can hold.
   */
  scores?: ScoreOrAuto[];
  /** Share of ID validation images γ accepts (default 0.95). */
  tpr?: number;
  /**
   * The layer whose output is the features (default: the input of the last Dense layer); for a
   * graph model, the node (default: the input of the MatMul that gives the logits).
   */
  featuresLayer?: string;
  /** [height, width, channels] of the images, for a model that reads them as flat vectors. */
  inputShape?: [number, number, number];
  /** Pixel range the model expects, e.g. [0, 1], [-1, 1], [0, 255]. */
  inputRange?: [number, number];
  /** Or per-channel mean and std in [0, 1] pixel units: the model sees (x − mean) / std. */
  mean?: number[];
  std?: number[];
  /** How images of another size are fitted to the model (default: the model's own ares run's, else crop). */
  resize?: ResizeMode;
  /** Pair ID classes with outputs by name (needs metadata.json labels) or by index. */
  match?: MatchBy;
  /**
   * What a prediction of an output the ID data has no images of answers: 'known' (default) — its
   * class, when the score accepts; 'unknown' — always "unknown" (recorded in detector.json).
   */
  unseenClasses?: UnseenClassAnswer;
  /** Run folder to write (new or empty). */
  out?: string;
  /** Images per forward pass; default: as many as keep one pass under 256 MiB (src/engine/memory.ts), at most 256. */
  batchSize?: number;
  onPhase?: (phase: string) => void;
}

/** What `fit` found and measured, beside the detector. */
export interface FitSummary {
  modelPath: string | null;
  logits: LogitsSource;
  logitsDescription: string;
  /** The features layer, or graph node ('(none)' for a graph model fitted on logits alone). */
  featuresLayer: string;
  /** 'graph-model' for a tfjs graph model, else 'layers-model'. */
  format: 'layers-model' | 'graph-model';
  featureDim: number;
  inputShape: [number, number, number];
  normalization: Normalization;
  normalizationSource: string;
  resize: ResizeMode;
  resizeSource: string;
  classes: ClassMatch;
  /** Outputs without ID images and what predicting one answers (as detector.json records it); null when every output had images. */
  unseenClasses: UnseenClassesSpec | null;
  /** Share of the ID test images whose top class is one without ID images (0 when there are none). */
  unseenPredictedShare: number;
  /** ID test accuracy; null when the labels are the model's own predictions (an unlabelled ID folder): not measured. */
  idAccuracy: number | null;
  idTestCount: number;
  teachableMachine: boolean;
  deployedScore: ScoreName;
  /** With --score auto: every candidate's validation numbers, the rule and its pick. */
  selection: ScoreSelection | null;
  gamma: number;
  tpr: number;
  /** Measured share of ID validation images rejected at γ. */
  idValidationRejected: number;
  validationCount: number;
  metrics: RunMetrics;
  evaluation: EvaluationResult;
  seconds: number;
  out: string | null;
  /** Signs that the model is not being read the way it was trained (near-chance accuracy). */
  warnings: string[];
}

export interface FittedDetector extends Detector {
  readonly summary: FitSummary;
  /** The model as inputs → [logits, features] (what the run folder stores). */
  readonly classifier: Classifier;
}

export type ScoreOrAuto = ScoreName | 'auto';
const DEFAULT_SCORES: ScoreOrAuto[] = ['auto'];

/**
 * --resize, else the model's own ares run's, else crop. Teachable Machine's metadata.json says
 * nothing about resizing (labels, imageSize, versions), so its models get crop too.
 */
export function resolveResize(flag: ResizeMode | undefined, run: ResizeMode | undefined): { resize: ResizeMode; source: string } {
  if (flag) return { resize: flag, source: '--resize' };
  if (run) return { resize: run, source: 'the run folder\'s detector.json' };
  return { resize: DEFAULT_RESIZE, source: 'default' };
}

/** Normalisation from the flags, else the ares run's own, else Teachable Machine's [-1, 1], else [0, 1] pixels. */
export function resolveNormalization(opts: Pick<FitOptions, 'inputRange' | 'mean' | 'std'>, channels: number, tm: boolean, run?: Normalization): { normalization: Normalization; source: string } {
  if (opts.inputRange && (opts.mean || opts.std)) throw new AresError('give either --input-range or --mean/--std, not both', { exitCode: 2 });
  if (opts.mean || opts.std) {
    if (!opts.mean || !opts.std) throw new AresError('--mean and --std go together', { exitCode: 2 });
    const spread = (v: number[]) => (v.length === 1 ? Array(channels).fill(v[0]) : v);
    return { normalization: checkNormalization({ mean: spread(opts.mean), std: spread(opts.std) }, channels, '--mean/--std'), source: '--mean/--std' };
  }
  if (run && !opts.inputRange) return { normalization: checkNormalization(run, channels, 'detector.json normalization'), source: 'the run folder\'s detector.json' };
  const range = opts.inputRange ?? (tm ? [-1, 1] : [0, 1]);
  const [a, b] = range;
  if (!(Number.isFinite(a) && Number.isFinite(b) && b > a)) throw new AresError(`--input-range must be two numbers low,high with low < high, got ${range.join(',')}`, { exitCode: 2 });
  // x_model = a + (b − a)·x  ⇔  (x − mean) / std with mean = −a/(b − a), std = 1/(b − a).
  const normalization = { mean: Array(channels).fill((0 - a) / (b - a)), std: Array(channels).fill(1 / (b - a)) };
  const source = opts.inputRange ? `--input-range ${a},${b}` : tm ? 'Teachable Machine export: pixels in [-1, 1]' : 'default: pixels in [0, 1] (set --input-range or --mean/--std if the model expects otherwise)';
  return { normalization, source };
}


/** Every score but ODIN (which needs input gradients at prediction time) can be the deployed one. */
const canDeploy = (name: string): name is ScoreName => name !== 'odin' && (DEPLOYABLE as readonly string[]).includes(name);

/** detector.json's score: the plain forms, or the state fitted on ID training data (mahalanobis, knn, vim, rmds, react, ash, scale). */
function deployedSpec(name: ScoreName, e: EvaluationResult): ScoreSpec {
  if (name === 'energy') return { name, weights: null };
  if (name === 'msp' || name === 'mls') return { name };
  if (name === 'gen') return { name, ...GEN_DEFAULTS };
  const spec = e.fitted[name];
  if (!spec) throw new AresError(`the evaluation fitted no "${name}" state to deploy`);
  return spec;
}

function checkTpr(tpr: number): number {
  if (!(tpr > 0 && tpr <= 1)) throw new AresError(`--tpr must be in (0, 1], got ${tpr}`, { exitCode: 2 });
  return tpr;
}

/** What fit needs of the user's model, whichever format it is in. */
interface ModelSetup {
  user: Omit<LoadedUserModel, 'model'>;
  classifier: Classifier;
  /** What the detector runs (and, for a layers model, what the run folder stores). */
  runModel: tf.LayersModel | tf.GraphModel;
  logits: LogitsSource;
  logitsDescription: string;
  featuresLayer: string;
  graph: GraphModelSpec | null;
  /** The graph model's folder, copied into the run unchanged. */
  graphDir: string | null;
  notes: string[];
}

/** model.json's path and checked content when `model` names a tfjs graph model, else null. */
function graphModelFile(model: string | tf.LayersModel): { file: string; json: ModelJson } | null {
  if (typeof model !== 'string') return null;
  const file = modelJsonPath(model);
  if (!existsSync(file)) return null; // loadUserModel says it is missing
  const raw = parseModelJsonText(readModelJsonText(file), file);
  return raw && typeof raw === 'object' && isGraphModelJson(raw) ? { file, json: validateModelJson(raw, file) } : null;
}

const FEATURE_FREE: readonly ScoreName[] = ['energy', 'msp', 'mls', 'gen', 'odin'];

async function setupLayers(model: string | tf.LayersModel, options: FitOptions): Promise<ModelSetup> {
  const user: LoadedUserModel = typeof model === 'string'
    ? await loadUserModel(model)
    : { path: '', model, metadata: null, teachableMachine: false, aresRun: null };
  const parts: ClassifierParts = toClassifierParts(user.model, { featuresLayer: options.featuresLayer, inputShape: options.inputShape });
  return {
    user, classifier: fromLayers('fitted' as ModelName, parts.model, parts.head, parts.inputShape, parts.numClasses, parts.featureDim),
    runModel: parts.model, logits: parts.logits, logitsDescription: describeLogits(parts.logits), featuresLayer: parts.featuresLayer,
    graph: null, graphDir: null, notes: [],
  };
}

async function setupGraph({ file, json }: { file: string; json: ModelJson }, options: FitOptions, scores: ScoreName[]): Promise<ModelSetup> {
  const choice = chooseGraphNodes(json, file, options.featuresLayer);
  const needing = scores.filter((s) => !FEATURE_FREE.includes(s));
  if (choice.spec.features === null && needing.length > 0) {
    throw new AresError(`${choice.featuresProblem} (${needing.join(', ')} read features; energy, msp, mls and gen work without)`, { file, exitCode: 2 });
  }
  if (choice.inputDims && choice.inputDims.length !== 4) {
    throw new AresError(`the graph's input "${choice.inputNode}" is [${choice.inputDims.join(', ')}]; ares fit needs a graph model whose input is images [batch, height, width, channels]`, { file, exitCode: 2 });
  }
  const shape = choice.inputShape ?? options.inputShape;
  if (!shape) throw new AresError(`the graph's input "${choice.inputNode}" has no fixed [batch, height, width, channels] shape; give it with --input-shape height,width,channels`, { file, exitCode: 2 });
  if (choice.inputShape && options.inputShape && options.inputShape.join() !== choice.inputShape.join()) {
    throw new AresError(`--input-shape ${options.inputShape.join(',')} differs from the graph's input ${choice.inputShape.join('×')}`, { file, exitCode: 2 });
  }
  const dir = dirname(file);
  const graph = await loadGraphModelFromDir(dir);
  let classifier: Classifier;
  try {
    classifier = fromGraph('fitted' as ModelName, graph, choice.spec, shape);
  } catch (err) {
    disposeAfterError(err, graph);
    throw err instanceof AresError ? new AresError(err.message, { file, exitCode: 2 }) : err;
  }
  const metadata = readMetadata(join(dir, 'metadata.json'));
  const notes = scores.includes('vim') ? [...choice.notes] : [];
  if (choice.spec.features === null) notes.push(`no features node (${choice.featuresProblem}): fitted on the logits alone; the report's feature view shows the logits`);
  return {
    user: { path: file, metadata, teachableMachine: metadata !== null && (metadata.packageName === '@teachablemachine/image' || typeof metadata.tmVersion === 'string'), aresRun: null },
    classifier, runModel: graph, logits: choice.logits, logitsDescription: describeGraphLogits(choice.logits, choice.spec.logits),
    featuresLayer: choice.spec.features ?? '(none)', graph: choice.spec, graphDir: dir, notes,
  };
}

/** Data the caller prepared (prepareDataset): brought to the model's input shape, normalisation replaced. */
function conformPrepared(d: PreparedDataset, shape: [number, number, number], resize: ResizeMode): PreparedDataset {
  const c = (set: ImageSet) => conformSet(set, shape, resize);
  return { ...d, train: c(d.train), val: c(d.val), test: c(d.test), ood: d.ood.map(c), valOod: d.valOod.map(c), shape };
}

/**
 * Fits a detector on `model` (a model.json path or folder, or a loaded tfjs LayersModel) with the
 * ID data `id`: a source spec as `ares train --id` takes (with `options` choosing classes, limit,
 * splits), or data already prepared with prepareDataset (its own splits and OOD sets are used; a run
 * folder written from it cannot be re-evaluated with `ares eval`, which needs a source to reload).
 * With a LayersModel, the detector shares its layers: dispose() frees the model's weights too.
 */
export async function fit(model: string | tf.LayersModel, id: string | PreparedDataset, options: FitOptions = {}): Promise<FittedDetector> {
  const t0 = performance.now();
  const engine = await initEngine();
  const tpr = checkTpr(options.tpr ?? 0.95);
  const unseenAnswer = checkUnseenAnswer(options.unseenClasses);
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
    throw new AresError(`--batch-size must be a positive integer, got ${options.batchSize}`, { exitCode: 2 });
  }
  const requested = [...new Set(options.scores ?? DEFAULT_SCORES)];
  const auto = requested.includes('auto');
  const scores = requested.filter((s): s is ScoreName => s !== 'auto');
  for (const s of scores) if (!SCORE_NAMES.includes(s)) throw new AresError(`unknown score "${s}"; choose from auto, ${SCORE_NAMES.join(', ')}`, { exitCode: 2 });
  // The detector.json score: auto's pick (known after evaluation), else the first requested one it
  // can hold (energy when none can).
  let deployed: ScoreName = scores.find(canDeploy) ?? 'energy';
  if (!auto && !scores.includes(deployed)) scores.push(deployed);
  if (options.out) checkOutFree(options.out);

  options.onPhase?.('loading the model');
  const graphFile = graphModelFile(model);
  const setup = graphFile ? await setupGraph(graphFile, options, scores) : await setupLayers(model, options);
  const { user, classifier } = setup;
  try {
    const parts = { inputShape: classifier.inputShape, numClasses: classifier.numClasses, featureDim: classifier.featureDim };
    const { normalization, source: normalizationSource } = resolveNormalization(options, parts.inputShape[2], user.teachableMachine, user.aresRun?.normalization);
    if (user.metadata?.imageSize && user.metadata.imageSize !== parts.inputShape[0]) {
      throw new AresError(`metadata.json says imageSize ${user.metadata.imageSize} but the model takes ${parts.inputShape.join('×')}`, { file: user.path, exitCode: 2 });
    }

    const { resize, source: resizeSource } = resolveResize(options.resize, user.aresRun?.resize);
    options.onPhase?.('loading data');
    let dataCfg: DataConfig = {
      id: typeof id === 'string' ? id : '(prepared in memory)', ood: options.ood ?? [], valOod: '', limit: options.limit,
      valFraction: options.valFraction ?? 0.1, seed: options.seed ?? 0, idClasses: options.idClasses, shape: parts.inputShape, resize,
    };
    // An unlabelled folder is accepted here only: fit can label it with the model's predictions.
    const loaded = typeof id === 'string' ? await prepareForConfig({ ...dataCfg, allowUnlabelled: true }) : conformPrepared(id, parts.inputShape, resize);
    if (loaded.val.count === 0) throw new AresError(`${dataCfg.id}: no ID validation images to set γ on (raise --limit or the validation share)`);
    const batchSize = options.batchSize ?? forwardBatchFor(classifier);
    const modelLabels = user.metadata?.labels ?? user.aresRun?.classNames ?? null;
    let data: PreparedDataset;
    let classes: ClassMatch;
    if (!loaded.train.labels) {
      if (options.match) throw new AresError(`--match ${options.match}: the ID data has no classes to match (an unlabelled folder; its labels are the model's predictions)`, { exitCode: 2 });
      options.onPhase?.('labelling the unlabelled ID images with the model\'s predictions');
      ({ data, match: classes } = await labelByModel({ ...loaded, normalization }, classifier, modelLabels, batchSize));
    } else {
      classes = matchClasses(loaded.classNames, parts.numClasses, modelLabels, options.match, user.path || 'the model');
      const aligned = alignClasses({ ...loaded, normalization }, classes, dataCfg);
      dataCfg = aligned.dataCfg;
      data = aligned.data;
    }
    const labelled = classes.by !== 'model-predictions';
    const unseenClasses: UnseenClassesSpec | null = classes.unseen.length > 0 ? { classes: [...classes.unseen], answer: unseenAnswer } : null;

    // A graph model without a features node gives its logits as "features": only logit scores mean anything.
    const autoCandidates = setup.graph?.features === null ? LOGIT_CANDIDATES : undefined;
    options.onPhase?.((auto ? `fitting ${[...new Set([...scores, ...(autoCandidates ?? AUTO_CANDIDATES)])].join(', ')} and choosing one on validation data (--score auto)` : `fitting ${scores.join(', ')}`)
      + ` (forward passes of ${batchSize} images)`);
    await checkFiniteOutputs(classifier, data, user.path, batchSize);
    let evaluation: EvaluationResult;
    try {
      evaluation = await evaluateAsync(classifier, data, { scores, tpr, batchSize, auto, seed: dataCfg.seed, autoCandidates });
    } catch (err) {
      // NaN outputs on images past the probe surface in the metrics as "score i is NaN": say whose and why.
      if (err instanceof AresError && / is NaN$/.test(err.message)) {
        throw new AresError(`the model's outputs are not finite for some images (${err.message}); its weights or the computation overflow`, { file: user.path || undefined, cause: err });
      }
      throw err;
    }
    const selection = evaluation.selection ?? null;
    if (selection) deployed = selection.chosen;
    const gamma = evaluation.thresholds[deployed];
    const idValidationRejected = rejectedShare(evaluation.scores[deployed].val, gamma)!;
    const spec: DetectorSpec = {
      version: DETECTOR_VERSION, classNames: classes.classNames, inputShape: parts.inputShape,
      normalization: { mean: [...normalization.mean], std: [...normalization.std] }, resize,
      score: deployedSpec(deployed, evaluation), threshold: { gamma, tpr, on: 'id-validation' },
      ...(setup.graph ? { model: setup.graph } : {}),
      ...(unseenClasses ? { unseenClasses } : {}),
    };
    const warnings: string[] = [...setup.notes, ...evaluation.warnings];
    const idAccuracy = labelled ? evaluation.accuracy : null;
    const testLabels = data.test.labels!;
    const { chance, level } = accuracyWarningLevel(testLabels, parts.numClasses);
    if (idAccuracy !== null && idAccuracy < level) {
      warnings.push(`the model classifies only ${(100 * idAccuracy).toFixed(1)}% of the ID test images right (chance: ${(100 * chance).toFixed(1)}%): `
        + `check the input range (${normalizationSource}) and which class is which output (matched by ${classes.by})`);
    }
    const testTop = argmaxRows(evaluation.outputs.test.logits.data, parts.numClasses);
    const unseenSet = new Set(classes.unseen);
    const unseenPredictedShare = testTop.length > 0 ? testTop.filter((k) => unseenSet.has(k)).length / testTop.length : 0;
    const seconds = (performance.now() - t0) / 1000;
    const metrics = fitMetrics(evaluation, engine, dataCfg.seed, seconds, idAccuracy, classes.by);
    const logitsDescription = setup.logitsDescription;
    const format = setup.graph ? 'graph-model' as const : 'layers-model' as const;
    const summary: FitSummary = {
      modelPath: user.path || null, logits: setup.logits, logitsDescription, featuresLayer: setup.featuresLayer, format, featureDim: parts.featureDim,
      inputShape: parts.inputShape, normalization, normalizationSource, resize, resizeSource, classes, unseenClasses, unseenPredictedShare, idAccuracy, idTestCount: testLabels.length,
      teachableMachine: user.teachableMachine,
      deployedScore: deployed, selection, gamma, tpr, idValidationRejected, validationCount: data.val.count, metrics, evaluation, seconds, out: options.out ?? null, warnings,
    };
    if (options.out) {
      options.onPhase?.('writing the run folder and report');
      const config = {
        method: 'fit', model: 'fitted', modelPath: user.path ? resolve(user.path) : null, ...dataCfg,
        scores: auto ? ['auto', ...scores] : scores, deployedScore: deployed, tpr, logits: logitsDescription, logitsSource: setup.logits, featuresLayer: setup.featuresLayer,
        format, ...(setup.graph ? { graph: setup.graph } : {}),
        featureDim: parts.featureDim, normalization, normalizationSource, classMatch: classes.by, teachableMachine: user.teachableMachine,
        idLabels: labelled ? 'data' : 'model-predictions', unseenClasses,
      };
      const stored: StoredModel = setup.graph
        ? { kind: 'graph', dir: setup.graphDir! }
        : { kind: 'layers', model: setup.runModel as tf.LayersModel, userDir: user.path ? dirname(user.path) : null };
      await writeFitRun(options.out, stored, {
        config, detector: spec, thresholdCount: data.val.count, thresholdRejected: idValidationRejected,
        metrics, artifacts: fitArtifacts(evaluation, deployed, parts.featureDim), ...(selection ? { selection } : {}),
      });
    }
    return Object.assign(createDetector(setup.runModel, spec), { summary, classifier });
  } catch (err) {
    // A model fit loaded from disk is its own to free; one the caller passed stays theirs. After a
    // wasm trap dispose() fails too: the error shown must stay the one that stopped the fit.
    if (typeof model === 'string') disposeAfterError(err, setup.runModel);
    throw err;
  }
}

/** ID validation images the output check runs on before anything is fitted. */
const PROBE_IMAGES = 32;

/**
 * NaN or infinite logits/features would surface deep in the metrics as "score 0 is NaN" without
 * naming the model: checked first on a few ID validation images, the message names the model file
 * (`modelFile`: model.json's path, '' for a model passed in memory).
 */
async function checkFiniteOutputs(classifier: Classifier, data: PreparedDataset, modelFile: string, batchSize: number): Promise<void> {
  const n = Math.min(PROBE_IMAGES, data.val.count);
  const per = data.val.shape[0] * data.val.shape[1] * data.val.shape[2];
  const probe: ImageSet = { ...data.val, count: n, images: data.val.images.subarray(0, n * per), labels: data.val.labels?.subarray(0, n) };
  const out = await forwardSetAsync(classifier, probe, data.normalization, batchSize);
  for (const [what, m] of [['logits', out.logits], ['features', out.features]] as const) {
    const i = m.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) {
      throw new AresError(`the model's ${what} are not finite (${m.data[i]} for ID validation image ${Math.floor(i / m.cols)}): `
        + 'its weights or outputs are NaN or overflow, so no score can be computed', { file: modelFile || undefined });
    }
  }
}

/**
 * metrics.json of a fit. `idAccuracy` is null when the labels are the model's own predictions (100%
 * by construction, so not measured): metrics.json allows null there (src/run/validate.ts), though
 * RunMetrics types it as a number for trained runs, which always measure it.
 */
function fitMetrics(e: EvaluationResult, engine: EngineInfo, seed: number, seconds: number, idAccuracy: number | null, idLabels: ClassMatch['by']): RunMetrics {
  return {
    method: 'fit', model: 'fitted', seed, backend: engine.backend, idAccuracy: idAccuracy as number, idLabels, tpr: e.tpr, thresholds: e.thresholds,
    rows: e.ood.map((o) => metricRow(o.ood, o.score, o.metrics)),
    validationRows: e.valOod.map((o) => metricRow(o.ood, o.score, o.metrics)),
    trainSeconds: 0, fitSeconds: seconds,
  };
}

function fitArtifacts(e: EvaluationResult, deployed: ScoreName, d: number): RunArtifacts {
  return { scores: scoreArraysOf(e, deployed), features: { dim: d, groups: featureGroupsOf(e, d) } };
}

/**
 * Never writes over an earlier run or a user's files: the folder must be new or empty (a file, a
 * path under a file or a folder holding anything but the tool's lock and temp files is refused).
 */
function checkOutFree(out: string): void {
  const state = claimRunFolder(out);
  if (state === 'own' || state === 'legacy') {
    throw new AresError(`${out} already holds a run; choose a new or empty --out`, { exitCode: 2 });
  }
}

/**
 * How the run stores the model: a graph model as the user's files, unchanged (detector.json names
 * its nodes); a layers model as the classifier ares built from it (inputs → [logits, features]),
 * with the user's weight files kept byte for byte when they hold every weight it needs.
 */
type StoredModel = { kind: 'graph'; dir: string } | { kind: 'layers'; model: tf.LayersModel; userDir: string | null };

/** Writes the whole run into a temp folder beside `out`, then renames it into place: no half-written run. */
async function writeFitRun(out: string, stored: StoredModel, parts: Parameters<typeof writeRun>[1]): Promise<void> {
  checkOutFree(out);
  const abs = resolve(out);
  const tmp = join(dirname(abs), `.${basename(abs)}.fit-${process.pid}-${Date.now()}.tmp`);
  try {
    withFsErrors(out, () => mkdirSync(dirname(abs), { recursive: true }));
    await writeRun(tmp, parts);
    const modelDir = join(tmp, 'model');
    if (stored.kind === 'graph') copyModelFiles(stored.dir, modelDir);
    else if (stored.userDir) await saveLayersModelKeepingWeights(stored.model, modelDir, stored.userDir);
    else await writeRun(tmp, { model: stored.model });
    withFsErrors(out, () => {
      if (existsSync(abs)) rmSync(abs, { recursive: true }); // empty but for the tool's lock or temp files: checked above
      renameSync(tmp, abs);
    });
  } catch (err) {
    try { rmSync(tmp, { recursive: true, force: true }); } catch { /* the original error says why */ }
    throw fsError(err, out);
  }
  writeReport(abs);
}
