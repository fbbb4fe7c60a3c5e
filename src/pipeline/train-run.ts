/**
 * One training run end to end, as `ares train` and the library's `trainRun` do it:
 * prepare the data → train (checkpoint every epoch) → evaluate → write the run folder.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { frozenLayerNames, initLayerNames } from '../methods/init.js';
import { AresError } from '../errors.js';
import { DEFAULT_CONFIG, DIVERGENCE_FORMS, DISCRIMINATION_LOSSES, ESTIMATION_SOURCES, METHODS, usesRotation, valOodList, withStoredLabelSmoothing, type TrainConfig } from '../methods/config.js';
import { checkEnsembleScores, trainEnsemble, ensembleSize } from '../methods/ensemble.js';
import { train, withResolvedAugment, withStoredAugment, type EpochRecord, type StepStats, type TrainedModel } from '../methods/train.js';
import { prepareDataset, type LabelMap, type PreparedDataset } from '../data/prepare.js';
import { RESIZE_MODES } from '../data/input-contract.js';
import { initEngine, moveVariables, type EngineInfo } from '../engine/backend.js';
import { evaluateAsync, SCORE_NAMES, type EvaluationResult, type ScoreName } from '../eval/evaluate.js';
import { MODEL_NAMES } from '../models/index.js';
import { writeJsonAtomic } from '../util/fs.js';
import { AUGMENT_MODES } from '../data/augment.js';
import { describeOwner, tryLock, type Lock } from '../util/lock.js';
import { writeReport } from '../report/index.js';
import { claimRunFolder } from '../run/folder.js';
import { readMarker, removeLeftoverTemps, writeMarker } from '../util/output-folder.js';
import { writeRunFolder } from './run-folder.js';

export interface TrainRunOptions {
  /** Run folder; nothing is written when absent. */
  out?: string;
  resume?: boolean;
  /** Scores to evaluate; default: on resume the ones the run was started with (kept in its marker), else energy. */
  scores?: ScoreName[];
  /** --score auto: also evaluate every deployable score and deploy the rule's pick (src/eval/auto-score.ts). */
  auto?: boolean;
  onStep?: (s: StepStats) => void;
  onEpoch?: (e: EpochRecord) => void;
  onPhase?: (phase: string) => void;
  /** Stop after this many epochs of this call (the run stays resumable). */
  stopAfterEpochs?: number;
  /** The caller already holds the run folder's lock (`ares benchmark` claims cells itself). */
  lock?: Lock;
}

export interface TrainRunResult {
  config: TrainConfig;
  engine: EngineInfo;
  trained: TrainedModel;
  data: PreparedDataset;
  /** Null when the run stopped before its last epoch. */
  evaluation: EvaluationResult | null;
  seconds: number;
}

/** Fills defaults and rejects impossible settings with a message naming the option. */
export function resolveConfig(partial: Partial<TrainConfig> & { id: string }): TrainConfig {
  const cfg: TrainConfig = { ...DEFAULT_CONFIG, ...stripUndefined(partial), id: partial.id };
  const oneOf = <T extends string>(v: T, list: readonly T[], flag: string) => {
    if (!list.includes(v)) throw new AresError(`--${flag} must be one of ${list.join(', ')}, got "${v}"`, { exitCode: 2 });
  };
  oneOf(cfg.method, METHODS, 'method');
  oneOf(cfg.model, MODEL_NAMES, 'model');
  oneOf(cfg.divergence, DIVERGENCE_FORMS, 'divergence');
  oneOf(cfg.loss, DISCRIMINATION_LOSSES, 'loss');
  oneOf(cfg.augment, AUGMENT_MODES, 'augment');
  oneOf(cfg.estimationSource, ESTIMATION_SOURCES, 'estimation-source');
  if (cfg.resize !== undefined) oneOf(cfg.resize, RESIZE_MODES, 'resize');
  if (!(cfg.estimationScale > 0) || !Number.isFinite(cfg.estimationScale)) {
    throw new AresError(`--estimation-scale must be a finite number > 0, got ${cfg.estimationScale}`, { exitCode: 2 });
  }
  const positiveInt = (v: number, flag: string) => {
    if (!Number.isInteger(v) || v < 1) throw new AresError(`--${flag} must be a positive integer, got ${v}`, { exitCode: 2 });
  };
  positiveInt(cfg.epochs, 'epochs');
  positiveInt(cfg.batchSize, 'batch-size');
  if (!Number.isInteger(cfg.pretrainEpochs) || cfg.pretrainEpochs < 0 || cfg.pretrainEpochs > cfg.epochs) {
    throw new AresError(`--pretrain-epochs must be an integer in [0, --epochs], got ${cfg.pretrainEpochs}`, { exitCode: 2 });
  }
  if (cfg.method === 'ares' && cfg.pretrainEpochs === cfg.epochs) {
    throw new AresError('--method ares with --pretrain-epochs equal to --epochs never trains with outliers; lower --pretrain-epochs', { exitCode: 2 });
  }
  if (!(cfg.logitNormTau > 0) || !Number.isFinite(cfg.logitNormTau)) throw new AresError(`logitNormTau (LogitNorm's τ) must be a finite number > 0, got ${cfg.logitNormTau}`, { exitCode: 2 });
  if (!(cfg.rotationWeight >= 0) || !Number.isFinite(cfg.rotationWeight)) throw new AresError(`rotationWeight (the rotation loss's λ) must be a finite number >= 0, got ${cfg.rotationWeight}`, { exitCode: 2 });
  if (!(cfg.labelSmoothing >= 0 && cfg.labelSmoothing < 1)) throw new AresError(`labelSmoothing (--label-smoothing) must be a number in [0, 1), got ${cfg.labelSmoothing}`, { exitCode: 2 });
  if (!(cfg.lr > 0)) throw new AresError(`--lr must be > 0, got ${cfg.lr}`, { exitCode: 2 });
  if (!(cfg.tpr > 0 && cfg.tpr <= 1)) throw new AresError(`--tpr must be in (0, 1], got ${cfg.tpr}`, { exitCode: 2 });
  if (!Number.isInteger(cfg.seed) || cfg.seed < 0) throw new AresError(`--seed must be a non-negative integer, got ${cfg.seed}`, { exitCode: 2 });
  if (cfg.foldClass !== undefined && !(Number.isInteger(cfg.foldClass) && cfg.idClasses?.includes(cfg.foldClass))) {
    throw new AresError(`foldClass must be one of idClasses (${cfg.idClasses ? `[${cfg.idClasses.join(', ')}]` : 'none given'}), got ${JSON.stringify(cfg.foldClass)}`, { exitCode: 2 });
  }
  if (cfg.ensemble !== undefined) {
    positiveInt(cfg.ensemble, 'ensemble');
    // One member is a plain run: stored as one, so its folder and benchmark cell match a run without the flag.
    if (cfg.ensemble === 1) delete cfg.ensemble;
  }
  return resolveInit(cfg);
}

/** --init as an absolute model.json path, and the layer names --freeze keeps fixed. */
function resolveInit(cfg: TrainConfig): TrainConfig {
  if (cfg.freeze !== undefined && !cfg.init) throw new AresError('--freeze needs --init (the weights to keep)', { exitCode: 2 });
  if (!cfg.init) return cfg;
  const file = resolve(existsSync(cfg.init) && statSync(cfg.init).isDirectory() ? join(cfg.init, 'model.json') : cfg.init);
  if (cfg.freeze === undefined) {
    initLayerNames(file); // a missing or unreadable file fails here, before any data is loaded
    return { ...cfg, init: file };
  }
  return { ...cfg, init: file, frozenLayers: frozenLayerNames(file, cfg.freeze) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The data options a run's config.json holds. A fitted run (ares fit) adds the model's input shape
 * and whether held-out classes are an OOD set (not when --id-classes only reorders the classes).
 */
export type DataConfig = Pick<TrainConfig, 'id' | 'ood' | 'valOod' | 'limit' | 'valFraction' | 'seed' | 'idClasses' | 'foldClass' | 'resize'>
  & { shape?: [number, number, number]; heldOutAsOod?: boolean; labelMap?: LabelMap; allowUnlabelled?: boolean };

export async function prepareForConfig(cfg: DataConfig): Promise<PreparedDataset> {
  return prepareDataset({
    id: cfg.id, ood: cfg.ood, valOod: valOodList(cfg.valOod), limit: cfg.limit,
    valFraction: cfg.valFraction, seed: cfg.seed, idClasses: cfg.idClasses, foldClass: cfg.foldClass, shape: cfg.shape, heldOutAsOod: cfg.heldOutAsOod, fit: cfg.resize,
    labelMap: cfg.labelMap, allowUnlabelled: cfg.allowUnlabelled,
  });
}

/** The lock file of a run folder: one training process at a time writes into it. */
export const runLockPath = (out: string) => join(out, '.ares.lock');

/**
 * Claims the run folder for this process, or fails naming the holder. A claim left by a killed
 * process is taken over (src/util/lock.ts), so `--resume` after kill -9 works.
 */
export function lockRunFolder(out: string, purpose = 'ares train'): Lock {
  const r = tryLock(runLockPath(out), purpose);
  if (!r.ok) {
    throw new AresError(`${out} is in use by another training (${describeOwner(r.holder)}); wait for it to finish or choose another --out`, { exitCode: 1 });
  }
  return r.lock;
}

export async function trainRun(config: TrainConfig, opts: TrainRunOptions = {}): Promise<TrainRunResult> {
  // Never write into a folder that is not a run folder (a user's files would be overwritten).
  checkEnsembleScores(config, opts.scores ?? []);
  if (opts.out) claimRunFolder(opts.out);
  const lock = opts.out && !opts.lock ? lockRunFolder(opts.out) : opts.lock;
  try {
    if (opts.out) opts = prepareRunFolder(opts.out, opts);
    return await trainRunLocked(config, opts, lock);
  } finally {
    if (lock !== opts.lock) lock?.release();
  }
}

/** A run folder with training state to resume: checkpoints, or an ensemble's members/ (each member keeps its own checkpoints there). */
export const holdsTrainingState = (dir: string): boolean => existsSync(join(dir, 'checkpoints')) || existsSync(join(dir, 'members'));

async function trainRunLocked(config: TrainConfig, opts: TrainRunOptions, lock: Lock | undefined): Promise<TrainRunResult> {
  const t0 = performance.now();
  const engine = await initEngine();
  let cfg = config;
  if (opts.out && opts.resume) cfg = storedConfig(opts.out) ?? cfg;
  if (opts.out && !opts.resume && holdsTrainingState(opts.out)) {
    throw new AresError(`${opts.out} already holds a training run; pass --resume to continue it or choose another --out`, { exitCode: 2 });
  }
  opts.onPhase?.('loading data');
  const data = await prepareForConfig(cfg);
  // The run records what `auto` settings became for this data, so a resume repeats them.
  cfg = withResolvedAugment(cfg, data.shape);
  if (opts.out) writeJsonAtomic(join(opts.out, 'config.json'), cfg);
  opts.onPhase?.('training');
  const trained = await (ensembleSize(cfg) > 1 ? trainEnsemble : train)(cfg, data, {
    outDir: opts.out, resume: opts.resume, onEpoch: opts.onEpoch, stopAfterEpochs: opts.stopAfterEpochs,
    onStep: (st) => { lock?.heartbeat(); opts.onStep?.(st); },
  });
  if (!trained.finished) return { config: cfg, engine, trained, data, evaluation: null, seconds: (performance.now() - t0) / 1000 };
  opts.onPhase?.('evaluating');
  // Awaited reads: on webgpu the run is scored there (forward passes, ODIN, rotpred).
  const evaluation = await evaluateAsync(trained.model, data, {
    scores: withMethodScores(cfg, opts.scores ?? (opts.auto ? [] : ['energy'])), energyWeights: trained.energyWeights, tpr: cfg.tpr, auto: opts.auto, seed: cfg.seed,
  });
  if (engine.backend === 'webgpu') {
    // Writing the run folder (the head's outputs on the virtual outliers) and the callers that use
    // the trained model read synchronously, which webgpu cannot do in Node: the weights move to
    // wasm (by value, read with await), as before scoring ran on webgpu.
    await moveVariables(trained.model.allVariables, 'wasm');
  }
  const result = { config: cfg, engine, trained, data, evaluation, seconds: (performance.now() - t0) / 1000 };
  if (opts.out) {
    opts.onPhase?.('writing the run folder and report');
    await writeRunFolder(opts.out, result);
    writeReport(opts.out);
  }
  return result;
}

/** A rotation method's run also evaluates its own score (rotpred), whatever scores were asked for. */
export function withMethodScores(cfg: Pick<TrainConfig, 'method'>, scores: ScoreName[]): ScoreName[] {
  return usesRotation(cfg.method) && !scores.includes('rotpred') ? [...scores, 'rotpred'] : scores;
}

/**
 * Marks the run folder as the tool's (with the scores asked for, so a resume evaluates the same
 * ones) and, on resume, removes temp files a killed process left (e.g. a half-written model/).
 * Runs while holding the folder's lock.
 */
function prepareRunFolder(out: string, opts: TrainRunOptions): TrainRunOptions {
  let { scores, auto } = opts;
  if (opts.resume) {
    // An ensemble's members keep their checkpoints under members/seed-<s>/checkpoints.
    const members = join(out, 'members');
    const memberCheckpoints = existsSync(members) ? readdirSync(members).map((m) => join(members, m, 'checkpoints')) : [];
    for (const d of [out, join(out, 'checkpoints'), join(out, 'artifacts'), join(out, 'model'), ...memberCheckpoints]) removeLeftoverTemps(d);
    // The marker lists what the run was started with ("auto" among the score names when it was).
    const stored = readMarker(out)?.scores ?? [];
    if (scores === undefined && auto === undefined && stored.length > 0) {
      scores = stored.filter((s): s is ScoreName => (SCORE_NAMES as readonly string[]).includes(s));
      auto = stored.includes('auto');
    }
  }
  const asked = [...(auto ? ['auto'] : []), ...(scores ?? [])];
  writeMarker(out, 'run', asked.length ? { scores: asked } : {});
  return { ...opts, scores, auto };
}

/** The configuration a run folder was started with (resume continues it unchanged). */
function storedConfig(out: string): TrainConfig | null {
  const file = join(out, 'config.json');
  if (!existsSync(file)) return null;
  try {
    return withStoredLabelSmoothing(withStoredAugment(JSON.parse(readFileSync(file, 'utf8')) as TrainConfig));
  } catch (err) {
    throw new AresError(`cannot read the run's configuration: ${(err as Error).message}`, { file });
  }
}

/** Frees the model's tensors (library users training many models in one process). */
export function disposeRun(r: TrainRunResult): void {
  r.trained.model.layersModel.dispose();
}
