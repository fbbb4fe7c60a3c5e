/**
 * The detector description: everything besides the weights that turns a model's logits into
 * "class k" or "unknown". Stored as `detector.json` in a run folder and as `ares.json` in an
 * exported bundle (the same object). Pure (no Node imports): the browser loader validates with it.
 */
import { AresError } from '../errors.js';
import { isResizeMode, RESIZE_MODES, type ResizeMode } from '../data/input-contract.js';
import { parseJsonText } from '../util/json-text.js';
import { parseFittedState, isFittedScoreName } from '../scores/fitted.js';
import { checkGenParams, GEN_DEFAULTS } from '../scores/gen.js';
import { isLogitScoreName } from '../scores/types.js';
import { SCORE_NAMES, type ScoreSpec } from './score.js';

export type { ScoreSpec } from './score.js';

/**
 * Version 2 added `resize`. Version 1 files (written before it) are still read: they mean 'crop',
 * which is how `ares train`, `ares fit` and `ares predict` fitted images to the model then (bundles
 * of that time did their own: the Node loader stretched, the page let the browser scale; re-export).
 */
export const DETECTOR_VERSION = 2;
const VERSION_1_RESIZE: ResizeMode = 'crop';

export interface Normalization {
  /** Per channel, applied to [0, 1] pixels as (x − mean) / std. */
  mean: number[];
  std: number[];
}

export interface ThresholdSpec {
  /** γ: accept iff score ≥ γ. */
  gamma: number;
  /** Share of the ID validation images γ accepts (0.95 by default). */
  tpr: number;
  /** Which data γ was set on; only ID validation data is allowed (design.md, validation protocol). */
  on: 'id-validation';
}

export interface DetectorSpec {
  version: typeof DETECTOR_VERSION;
  classNames: string[];
  /** [height, width, channels] the model takes. */
  inputShape: [number, number, number];
  normalization: Normalization;
  /** How images of another size are fitted to inputShape (src/data/input-contract.ts): crop, stretch or pad. */
  resize: ResizeMode;
  score: ScoreSpec;
  threshold: ThresholdSpec;
  /**
   * The model's learned energy weights w_k (ARES, VOS) when `score` is another score: kept so
   * that evaluating the run's energy score still uses them. Absent otherwise.
   */
  energyWeights?: number[];
  /** Present when the model is a tfjs graph model (absent: a layers model with outputs [logits, features]). */
  model?: GraphModelSpec;
  /** Present when the detector was fitted without images of some of the model's classes (ares fit). */
  unseenClasses?: UnseenClassesSpec;
}

/**
 * The model's outputs that the ID data had no images of, and what a prediction of one answers:
 * 'known' — its class name when the score accepts, like any class (the scores were fitted on the
 * other classes only); 'unknown' — always "unknown", the user declared those classes outside the task.
 */
export interface UnseenClassesSpec {
  /** Output indices, ascending. */
  classes: number[];
  answer: UnseenClassAnswer;
}

export type UnseenClassAnswer = 'known' | 'unknown';
export const UNSEEN_CLASS_ANSWERS: readonly UnseenClassAnswer[] = ['known', 'unknown'];

/** Which nodes of a tfjs graph model give the logits and features, and the head's weight constants (ViM's origin). */
export interface GraphModelSpec {
  format: 'graph-model';
  logits: string;
  /** null: no features node (only logit scores, energy and msp, can be deployed). */
  features: string | null;
  /** Const node of the features → logits MatMul's weight, and whether the MatMul transposes it. */
  headKernel?: string;
  headKernelTransposed?: boolean;
  /** Const node added after the MatMul, if any. */
  headBias?: string;
}

type Obj = Record<string, unknown>;

function bad(source: string, what: string): never {
  throw new AresError(`invalid detector description: ${what}`, { file: source });
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function numbers(v: unknown, source: string, field: string, len?: number): number[] {
  if (!Array.isArray(v) || !v.every(isFiniteNumber)) bad(source, `${field} must be an array of finite numbers`);
  if (len !== undefined && v.length !== len) bad(source, `${field} has ${v.length} values, expected ${len}`);
  return v as number[];
}

function parseScore(v: unknown, source: string, numClasses: number): ScoreSpec {
  if (!isObj(v) || !(SCORE_NAMES as readonly unknown[]).includes(v.name)) {
    bad(source, `score.name must be one of ${SCORE_NAMES.join(', ')}`);
  }
  if (v.name === 'msp') return { name: 'msp' };
  if (v.name === 'mls') return { name: 'mls' };
  if (v.name === 'gen') {
    // Written with both; a hand-written file may leave them out and get the paper's values.
    const gamma = v.gamma ?? GEN_DEFAULTS.gamma, topM = v.topM ?? GEN_DEFAULTS.topM;
    if (!isFiniteNumber(gamma) || !isFiniteNumber(topM)) bad(source, 'score.gamma and score.topM must be numbers');
    try {
      checkGenParams(gamma, topM, 'score');
    } catch (err) {
      bad(source, (err as Error).message);
    }
    return { name: 'gen', gamma, topM };
  }
  if (isFittedScoreName(v.name)) {
    if (!isObj(v.state)) bad(source, `score.state must be the fitted ${v.name} state (an object)`);
    // Checked now (sizes, encodings), so a damaged file is refused when read, not when scoring.
    try {
      parseFittedState(v.name, v.state, source);
    } catch (err) {
      bad(source, `score.state: ${(err as Error).message.replace(`${source}: `, '')}`);
    }
    return { name: v.name, state: v.state };
  }
  if (v.weights === null || v.weights === undefined) return { name: 'energy', weights: null };
  const weights = numbers(v.weights, source, 'score.weights', numClasses);
  // relu(w_k) = 0 for every k would make every score −∞ and reject everything.
  if (!weights.some((w) => w > 0)) bad(source, 'score.weights must contain at least one positive weight');
  return { name: 'energy', weights };
}

const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function parseGraphSpec(v: unknown, source: string): GraphModelSpec {
  if (!isObj(v) || v.format !== 'graph-model') bad(source, 'model.format must be "graph-model"');
  if (!isName(v.logits)) bad(source, 'model.logits must name the logits node');
  if (v.features !== null && !isName(v.features)) bad(source, 'model.features must name the features node, or be null');
  if (v.headKernel !== undefined && !isName(v.headKernel)) bad(source, 'model.headKernel must name a Const node');
  if (v.headBias !== undefined && !isName(v.headBias)) bad(source, 'model.headBias must name a Const node');
  if (v.headKernelTransposed !== undefined && typeof v.headKernelTransposed !== 'boolean') bad(source, 'model.headKernelTransposed must be true or false');
  return {
    format: 'graph-model', logits: v.logits, features: v.features as string | null,
    ...(v.headKernel !== undefined ? { headKernel: v.headKernel as string, headKernelTransposed: v.headKernelTransposed === true } : {}),
    ...(v.headBias !== undefined ? { headBias: v.headBias as string } : {}),
  };
}

function parseUnseen(v: unknown, source: string, numClasses: number): UnseenClassesSpec {
  if (!isObj(v)) bad(source, 'unseenClasses must be an object {classes, answer}');
  if (!(UNSEEN_CLASS_ANSWERS as readonly unknown[]).includes(v.answer)) bad(source, `unseenClasses.answer must be ${UNSEEN_CLASS_ANSWERS.join(' or ')}`);
  const classes = numbers(v.classes, source, 'unseenClasses.classes');
  // At least one class must have had images: the score and γ were fitted on them.
  if (classes.length === 0 || classes.length >= numClasses || !classes.every((k, i) => Number.isInteger(k) && k >= 0 && k < numClasses && (i === 0 || k > classes[i - 1]))) {
    bad(source, `unseenClasses.classes must list, ascending, some but not all of the output indices 0..${numClasses - 1}`);
  }
  return { classes: [...classes], answer: v.answer as UnseenClassAnswer };
}

/** Validates a parsed detector.json / ares.json; `source` names the file in every error. */
export function parseDetectorSpec(raw: unknown, source: string): DetectorSpec {
  if (!isObj(raw)) bad(source, 'expected a JSON object');
  if (raw.version !== 1 && raw.version !== DETECTOR_VERSION) bad(source, `unsupported version ${JSON.stringify(raw.version)} (this loader reads versions 1 to ${DETECTOR_VERSION})`);
  if (raw.version === DETECTOR_VERSION && !isResizeMode(raw.resize)) bad(source, `resize must be one of ${RESIZE_MODES.join(', ')}`);
  const resize = raw.version === 1 ? VERSION_1_RESIZE : raw.resize as ResizeMode;
  const { classNames, inputShape, normalization, threshold } = raw;
  if (!Array.isArray(classNames) || classNames.length < 2 || !classNames.every((c) => typeof c === 'string' && c.length > 0)) {
    bad(source, 'classNames must list at least two non-empty names');
  }
  if (classNames.includes('unknown')) bad(source, 'a class may not be named "unknown" (that is the rejection label)');
  const shape = numbers(inputShape, source, 'inputShape', 3);
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) bad(source, 'inputShape must be three positive integers [height, width, channels]');
  if (!isObj(normalization)) bad(source, 'normalization must be an object {mean, std}');
  const mean = numbers(normalization.mean, source, 'normalization.mean', shape[2]);
  const std = numbers(normalization.std, source, 'normalization.std', shape[2]);
  if (!std.every((s) => s > 0)) bad(source, 'normalization.std values must be > 0');
  if (!isObj(threshold) || !isFiniteNumber(threshold.gamma)) bad(source, 'threshold.gamma must be a finite number');
  const tpr = threshold.tpr;
  if (!isFiniteNumber(tpr) || tpr <= 0 || tpr > 1) bad(source, 'threshold.tpr must be in (0, 1]');
  if (threshold.on !== 'id-validation') bad(source, 'threshold.on must be "id-validation"');
  const model = raw.model === undefined ? undefined : parseGraphSpec(raw.model, source);
  const score = parseScore(raw.score, source, classNames.length);
  if (model && model.features === null && !isLogitScoreName(score.name)) {
    bad(source, `the ${score.name} score reads features, but model.features is null`);
  }
  return {
    version: DETECTOR_VERSION,
    classNames: classNames as string[],
    inputShape: shape as [number, number, number],
    normalization: { mean, std },
    resize,
    score,
    threshold: { gamma: threshold.gamma, tpr, on: 'id-validation' },
    ...(raw.energyWeights !== undefined ? { energyWeights: numbers(raw.energyWeights, source, 'energyWeights', classNames.length) } : {}),
    ...(model ? { model } : {}),
    ...(raw.unseenClasses !== undefined ? { unseenClasses: parseUnseen(raw.unseenClasses, source, classNames.length) } : {}),
  };
}

/** Parses JSON text first, so a truncated file gets the same kind of message as a wrong field. */
export function parseDetectorJson(text: string, source: string): DetectorSpec {
  return parseDetectorSpec(parseJsonText(text, source), source);
}
