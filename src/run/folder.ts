/**
 * Run folder I/O: writeRun writes any subset of a run's parts (training writes the model first and
 * the metrics later), readRun validates what a run must have and reads the rest lazily.
 */
import type * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AresError } from '../errors.js';
import { withFsErrors, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { claimOutputFolder, isDir, isToolEntry, tryReadJson, writeMarker, type ClaimResult } from '../util/output-folder.js';
import { readArtifacts, writeArtifacts, type LoadedArtifacts } from './artifacts.js';
import { parseDetectorSpec, type DetectorSpec } from './detector.js';
import { isObject, readJsonFile } from './json-file.js';
import { loadLayersModelFromDir, modelFolderNames, saveLayersModel } from './model-io.js';
import type { RunArtifacts, RunConfig, RunHistory, RunMetrics, ThresholdFile } from './types.js';
import { parseHistory, parseMetrics, parseThreshold } from './validate.js';

export const RUN_FILES = {
  config: 'config.json',
  model: 'model',
  detector: 'detector.json',
  threshold: 'threshold.json',
  metrics: 'metrics.json',
  history: 'history.json',
  checkpoints: 'checkpoints',
  report: 'report.html',
  artifacts: 'artifacts',
  selection: 'score-selection.json',
} as const;

export interface RunParts {
  config: RunConfig;
  /** The Classifier's layersModel: inputs -> [logits, features]. */
  model: tf.LayersModel;
  /** Also writes threshold.json from its threshold. */
  detector: DetectorSpec;
  /** Number of ID validation images γ was set on (stored in threshold.json). */
  thresholdCount: number;
  /** Measured share of those images γ rejects (stored in threshold.json with its meaning). */
  thresholdRejected: number;
  metrics: RunMetrics;
  history: RunHistory;
  artifacts: RunArtifacts;
  /** report.html's content (see src/report). */
  report: string;
  /** --score auto: the candidates' validation numbers and the rule's pick (score-selection.json). */
  selection: object;
}

export interface RunFolder {
  dir: string;
  config: RunConfig;
  detector: DetectorSpec;
  threshold: ThresholdFile;
  metrics?: RunMetrics;
  history?: RunHistory;
  /** Absolute paths of the run's files. */
  paths: { [K in keyof typeof RUN_FILES]: string };
  loadModel(): Promise<tf.LayersModel>;
  readArtifacts(): LoadedArtifacts;
}

export function runPaths(dir: string): RunFolder['paths'] {
  const abs = resolve(dir);
  return Object.fromEntries(Object.entries(RUN_FILES).map(([k, v]) => [k, join(abs, v)])) as RunFolder['paths'];
}

/**
 * Run folders written before the ownership marker (src/util/output-folder.ts) are recognised only
 * when every entry is a name a run folder holds, config.json is a JSON object with the string
 * fields `method` and `id` that every run config has, model/ (when present) holds only model.json
 * and the shards it lists, and checkpoints/ only checkpoint files. Anything else is refused, so a
 * user's folder that happens to hold a config.json is never written into.
 */
export function isLegacyRunFolder(dir: string, entries: string[]): boolean {
  const known = new Set<string>(Object.values(RUN_FILES));
  if (!entries.every((n) => known.has(n))) return false;
  const config = tryReadJson(join(dir, RUN_FILES.config));
  if (!isObject(config) || typeof config.method !== 'string' || typeof config.id !== 'string') return false;
  const model = join(dir, RUN_FILES.model);
  if (existsSync(model)) {
    if (!isDir(model)) return false;
    const own = modelFolderNames(model);
    if (!readdirSync(model).every((n) => own.has(n) || isToolEntry(n))) return false;
  }
  const checkpoints = join(dir, RUN_FILES.checkpoints);
  if (existsSync(checkpoints)) {
    if (!isDir(checkpoints)) return false;
    if (!readdirSync(checkpoints).every((n) => /^epoch-\d+\.ckpt$/.test(n) || isToolEntry(n))) return false;
  }
  return true;
}

/**
 * Checks that a run may be written into `dir` (missing, empty, a run folder of ours or a legacy
 * one), or throws an AresError naming the folder; see claimOutputFolder.
 */
export function claimRunFolder(dir: string, flag = '--out'): ClaimResult {
  return claimOutputFolder(dir, 'run', { flag, legacy: isLegacyRunFolder });
}

/**
 * Writes the given parts of a run into `dir` (created if needed); each file is written atomically.
 * The folder must be missing, empty or a run folder (claimRunFolder); it is marked as one.
 */
export async function writeRun(dir: string, parts: Partial<RunParts>): Promise<void> {
  const p = runPaths(dir);
  claimRunFolder(dir);
  withFsErrors(dir, () => mkdirSync(p.checkpoints, { recursive: true }));
  writeMarker(dir, 'run');
  if (parts.config) writeJsonAtomic(p.config, parts.config);
  if (parts.model) await saveLayersModel(parts.model, p.model);
  if (parts.detector) {
    // Validate before writing, so a run folder can never hold a detector predict would refuse.
    const d = parseDetectorSpec(parts.detector, p.detector);
    writeJsonAtomic(p.detector, d);
    const t: ThresholdFile = {
      ...d.threshold, score: d.score.name, ...(parts.thresholdCount ? { count: parts.thresholdCount } : {}),
      ...(parts.thresholdRejected !== undefined ? { idValidationRejected: parts.thresholdRejected } : {}),
      meaning: thresholdMeaning(d, parts.thresholdCount, parts.thresholdRejected),
    };
    writeJsonAtomic(p.threshold, t);
  }
  if (parts.metrics) writeJsonAtomic(p.metrics, parseMetrics(JSON.parse(JSON.stringify(parts.metrics)), p.metrics));
  if (parts.history) writeJsonAtomic(p.history, parseHistory(JSON.parse(JSON.stringify(parts.history)), p.history));
  if (parts.artifacts) await writeArtifacts(p.artifacts, parts.artifacts);
  if (parts.report !== undefined) writeFileAtomic(p.report, parts.report);
  if (parts.selection) writeJsonAtomic(p.selection, parts.selection);
}

/** threshold.json's sentence: what γ does, and what it did on the ID validation images it was set on. */
export function thresholdMeaning(d: DetectorSpec, count?: number, rejected?: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const on = count ? `the ${count} ID validation images` : 'the ID validation images';
  const measured = rejected !== undefined ? `; measured on them: ${pct(1 - rejected)} accepted, ${pct(rejected)} rejected as unknown` : '';
  return `an image is accepted iff its ${d.score.name} score ≥ γ = ${d.threshold.gamma}; γ was chosen to accept ${pct(d.threshold.tpr)} of ${on}`
    + `${measured}. Expect about ${pct(1 - d.threshold.tpr)} of in-distribution images to be answered "unknown"; a higher TPR (--tpr) rejects fewer of them and lets more OOD images through`;
}

/**
 * Opens a run folder. config.json, detector.json, threshold.json and model/model.json must exist
 * and be valid; metrics.json and history.json are read when present.
 */
export function readRun(dir: string): RunFolder {
  const p = runPaths(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new AresError('run folder not found', { file: dir });
  }
  for (const [what, path] of [['config.json', p.config], ['detector.json', p.detector], ['threshold.json', p.threshold], ['model/model.json', join(p.model, 'model.json')]] as const) {
    if (!existsSync(path)) throw new AresError(`not a complete run folder: ${what} is missing`, { file: dir });
  }
  const config = readJsonFile(p.config, 'run config');
  if (!isObject(config)) throw new AresError('invalid run config: expected a JSON object', { file: p.config });
  const detector = parseDetectorSpec(readJsonFile(p.detector, 'detector description'), p.detector);
  const threshold = parseThreshold(readJsonFile(p.threshold, 'threshold'), p.threshold, detector);
  const metrics = existsSync(p.metrics) ? parseMetrics(readJsonFile(p.metrics, 'metrics'), p.metrics) : undefined;
  const history = existsSync(p.history) ? parseHistory(readJsonFile(p.history, 'history'), p.history) : undefined;
  return {
    dir: resolve(dir), config, detector, threshold, metrics, history, paths: p,
    loadModel: () => loadLayersModelFromDir(p.model),
    readArtifacts: () => readArtifacts(p.artifacts),
  };
}
