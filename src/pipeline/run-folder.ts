/**
 * Turns a finished training run into the run folder (src/run/folder.ts writes it): the model,
 * detector.json (γ on ID validation data), metrics, curves, and the report's artifacts — score
 * arrays, a subsample of penultimate features (ID, each OOD set, virtual outliers) and sample images.
 */
import * as tf from '@tensorflow/tfjs';
import { negativeEnergyScores } from '../scores/energy.js';
import { pixmixBatch } from '../ares/pixmix.js';
import { writeRun } from '../run/folder.js';
import { DEFAULT_RESIZE } from '../data/input-contract.js';
import { DETECTOR_VERSION, type DetectorSpec } from '../run/detector.js';
import type { FeatureGroup, MetricsRow, RunArtifacts, RunHistory, RunMetrics as RunMetricsFile } from '../run/types.js';
import type { EnergySeparation, OodMetrics } from '../metrics/index.js';
import { Rng } from '../util/rng.js';
import { detectorWithScore, type EvaluationResult, type ScoreName, type SetOutputs } from '../eval/evaluate.js';
import { scoreArraysOf } from '../eval/score-arrays.js';
import type { TrainRunResult } from './train-run.js';

export type MetricRow = MetricsRow;

/** metrics.json: the run folder's metrics plus what the CLI and the benchmark tables need. */
export interface RunMetrics extends RunMetricsFile {
  method: string;
  model: string;
  seed: number;
  backend: string;
  tpr: number;
  thresholds: Record<string, number>;
  /** Test OOD sets. */
  rows: MetricsRow[];
  /** Validation OOD set(s): used for choosing defaults, never a test result. */
  validationRows: MetricsRow[];
  trainSeconds: number;
  /** Per-epoch inlier vs virtual-outlier energies (epoch 1-based; null where the epoch had no outlier loss). */
  energies?: { epoch: number; energy: EnergySeparation | null }[];
}

export const metricRow = (ood: string, score: string, m: OodMetrics): MetricsRow => ({
  ood, score, fpr95: m.fpr, auroc: m.auroc, aupr_in: m.auprIn, aupr_out: m.auprOut,
});

export function runMetrics(r: TrainRunResult): RunMetrics {
  const e = r.evaluation!;
  return {
    method: r.config.method, model: r.config.model, seed: r.config.seed, backend: r.engine.backend,
    idAccuracy: e.accuracy, tpr: e.tpr, thresholds: e.thresholds,
    rows: e.ood.map((o) => metricRow(o.ood, o.score, o.metrics)),
    validationRows: e.valOod.map((o) => metricRow(o.ood, o.score, o.metrics)),
    trainSeconds: r.seconds,
    energies: r.trained.history.map((h) => ({ epoch: h.epoch + 1, energy: h.energy ?? null })),
  };
}

/** detector.json of a trained run: energy (with learned weights), or --score auto's pick. */
export function detectorSpecOf(r: TrainRunResult): DetectorSpec {
  const e = r.evaluation!;
  const energySpec: DetectorSpec = {
    version: DETECTOR_VERSION,
    classNames: r.data.classNames,
    inputShape: r.data.shape,
    normalization: { mean: [...r.data.normalization.mean], std: [...r.data.normalization.std] },
    resize: r.config.resize ?? DEFAULT_RESIZE,
    score: { name: 'energy', weights: r.trained.energyWeights ? Array.from(r.trained.energyWeights) : null },
    threshold: { gamma: e.thresholds.energy, tpr: e.tpr, on: 'id-validation' },
  };
  return e.selection ? detectorWithScore(energySpec, e, e.selection.chosen, r.trained.energyWeights) : energySpec;
}

/** The score detector.json deploys. */
const deployedScore = (r: TrainRunResult): ScoreName => r.evaluation!.selection?.chosen ?? 'energy';

const historyOf = (r: TrainRunResult): RunHistory => ({
  epochs: r.trained.history.map((h) => ({
    epoch: h.epoch + 1, ce: h.ce, jsd: h.jsd, accuracy: h.trainAccuracy, valAccuracy: h.valAccuracy, seconds: h.seconds, energy: h.energy ?? null,
  })),
});

/** At most `n` rows of a [rows, d] matrix, chosen with a fixed seed so reports are reproducible. */
export function subsampleRows(data: Float32Array, rows: number, d: number, n: number, seed: number): { data: Float32Array; picked: Int32Array } {
  const picked = rows <= n ? Int32Array.from({ length: rows }, (_, i) => i) : Rng.stream(seed, 'report/subsample').permutation(rows).slice(0, n).sort();
  const out = new Float32Array(picked.length * d);
  picked.forEach((r, i) => out.set(data.subarray(r * d, (r + 1) * d), i * d));
  return { data: out, picked };
}

const FEATURES_PER_GROUP = 400;

/** The report's feature rows: a seeded subsample of the ID test set and of each OOD set. */
export function featureGroupsOf(e: EvaluationResult, d: number): FeatureGroup[] {
  const group = (o: SetOutputs, kind: 'id' | 'ood', seed: number): FeatureGroup => {
    const s = subsampleRows(o.features.data as Float32Array, o.rows, d, FEATURES_PER_GROUP, seed);
    return { name: o.name, kind, features: s.data, labels: kind === 'id' && o.labels ? Int32Array.from(s.picked, (i) => o.labels![i]) : undefined };
  };
  return [group(e.outputs.test, 'id', 1), ...e.outputs.ood.map((o, i) => group(o, 'ood', 2 + i))];
}

export function artifactsOf(r: TrainRunResult): RunArtifacts {
  const e = r.evaluation!;
  const { model } = r.trained;
  const d = model.featureDim;
  // The deployed score's arrays: the page's histogram must reproduce detector.json's γ.
  const deployed = deployedScore(r);
  const scores = e.scores[deployed];
  const virtualRows = r.trained.lastOutliers;
  let virtualScores: number[] | undefined;
  // Virtual outliers are scored with energy only (what the method trains against).
  if (virtualRows && deployed === 'energy') {
    const logits = tf.tidy(() => model.head(tf.tensor2d(virtualRows.v, [virtualRows.rows, d])).dataSync() as Float32Array);
    virtualScores = Array.from(negativeEnergyScores({ data: logits, rows: virtualRows.rows, cols: model.numClasses }, { weights: r.trained.energyWeights ?? undefined }));
  }
  const groups = featureGroupsOf(e, d);
  if (virtualRows) groups.push({ name: 'virtual outliers', kind: 'virtual', features: virtualRows.v });
  return {
    scores: scores && { ...scoreArraysOf(e, deployed), ...(virtualScores ? { virtual: virtualScores } : {}) },
    features: { dim: d, groups },
    samples: sampleImages(r),
  };
}

/** A few training images after Escape, and a few fractals, for the report. */
function sampleImages(r: TrainRunResult): RunArtifacts['samples'] {
  const bank = r.trained.fractals;
  if (!bank) return undefined;
  const shape = r.data.shape;
  const per = shape[0] * shape[1] * shape[2];
  const n = Math.min(8, r.data.train.count, bank.count);
  const originals = r.data.train.images.slice(0, n * per);
  const pixmix = pixmixBatch(originals, shape, bank, Rng.stream(r.config.seed, 'report/pixmix-preview'), { rounds: r.config.pixmixRounds, beta: r.config.pixmixBeta });
  return { pixmix: { shape, images: pixmix }, fractals: { shape, images: bank.images.slice(0, n * per) } };
}

/** Share of ID validation scores below γ (what threshold.json reports as measured). */
export function rejectedShare(val: ArrayLike<number> | undefined, gamma: number | undefined): number | undefined {
  if (!val || !val.length || gamma === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < val.length; i++) if (!(val[i] >= gamma)) n++;
  return n / val.length;
}

export async function writeRunFolder(dir: string, r: TrainRunResult): Promise<void> {
  await writeRun(dir, {
    config: r.config as unknown as Record<string, unknown>,
    model: r.trained.model.layersModel,
    detector: detectorSpecOf(r),
    thresholdCount: r.data.val.count,
    thresholdRejected: rejectedShare(r.evaluation!.scores[deployedScore(r)]?.val, r.evaluation!.thresholds[deployedScore(r)]),
    metrics: runMetrics(r),
    history: historyOf(r),
    artifacts: artifactsOf(r),
    ...(r.evaluation!.selection ? { selection: r.evaluation!.selection } : {}),
  });
}
