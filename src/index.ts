/**
 * ares-ood's public API.
 *
 *   const run = await train({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], ood: ['gaussian'], epochs: 3 }, { out: 'runs/digits' });
 *   const det = await loadDetector('runs/digits');          // a run folder or an exported bundle
 *   const answers = await det.predict(images);              // [{ label: '3' | 'unknown', score, ... }]
 *   const mine = await fit('tm-model/model.json', 'photos/', { out: 'runs/mine' });  // a model you already have
 *
 * Scores are always "higher = more in-distribution"; γ accepts 95% of ID validation images.
 */
import type { TrainConfig } from './methods/config.js';
import { resolveConfig, trainRun, type TrainRunOptions, type TrainRunResult } from './pipeline/train-run.js';

export { AresError, NotFittedError } from './errors.js';
export { initEngine, engineInfo, type BackendName, type BackendRequest, type EngineInfo } from './engine/backend.js';

// Data
export { loadSource } from './data/load.js';
export { prepareDataset, type DatasetSpec, type PreparedDataset } from './data/prepare.js';
export { batches } from './data/batches.js';
export type { ImageSet } from './data/types.js';

// Models and training
export { buildModel, classifierFromSaved, MODEL_NAMES, type Classifier, type ModelName } from './models/index.js';
export { DEFAULT_CONFIG, METHODS, DIVERGENCE_FORMS, DISCRIMINATION_LOSSES, ESTIMATION_SOURCES, VALIDATION_OOD_SETS, type TrainConfig, type Method } from './methods/config.js';
export { train as trainModel, type TrainedModel, type EpochRecord, type StepStats } from './methods/train.js';
export { resolveConfig, trainRun, type TrainRunOptions, type TrainRunResult } from './pipeline/train-run.js';

// Evaluation, metrics, scores
export { evaluate, evaluateAsync, forwardSet, forwardSetAsync, detectorWithScore, SCORE_NAMES, type ScoreName, type EvaluationResult } from './eval/evaluate.js';
export * as metrics from './metrics/index.js';
export * as detectors from './scores/index.js';

// A model the user already has: fit the scores and γ on it
export { fit, type FitOptions, type FitSummary, type FittedDetector } from './fit/index.js';

// Runs, deployment, reports
export { loadRun, type LoadedRun } from './pipeline/load-run.js';
export { loadDetector, createDetector, exportBundle, serveBundle, UNKNOWN, type Detector, type Prediction } from './export/index.js';
export { readRun, writeRun, predictFiles, type RunFolder, type DetectorSpec } from './run/index.js';
export { writeReport, buildReport, type ReportData } from './report/index.js';

/**
 * Trains a model with ARES (or a baseline: method 'ce' | 'pixmix-only' | 'vos') on `options.id`,
 * evaluates it on `options.ood`, and — with `out` — writes a run folder loadDetector can open.
 * Unset options take the defaults of DEFAULT_CONFIG.
 */
export async function train(options: Partial<TrainConfig> & { id: string }, run: TrainRunOptions = {}): Promise<TrainRunResult> {
  return trainRun(resolveConfig(options), run);
}
