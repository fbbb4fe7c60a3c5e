/**
 * The typed parts of a run folder (design.md, "Interfaces other tools rely on"):
 *
 *   config.json     the run's configuration (the trainer's TrainConfig, as JSON)
 *   model/          tfjs layers model: inputs -> [logits, features] (model.json + weights.bin)
 *   detector.json   DetectorSpec: class names, input shape, normalisation, score function, γ
 *   threshold.json  γ and how it was set (mirrors detector.json's threshold)
 *   metrics.json    RunMetrics: ID accuracy and one row per (OOD set, score)
 *   history.json    RunHistory: per-epoch training curves
 *   checkpoints/    owned by the trainer
 *   report.html     the self-contained report
 *   artifacts/      optional report inputs: score arrays, features, sample images
 *
 * All rates (accuracy, FPR, AUROC, AUPR) are fractions in [0, 1], not percentages.
 */
import type { DetectorSpec, ThresholdSpec } from './detector.js';

export type RunConfig = Record<string, unknown>;

/** threshold.json: the detector's threshold plus how it was obtained. */
export interface ThresholdFile extends ThresholdSpec {
  score: DetectorSpec['score']['name'];
  /** Number of ID validation images γ was set on. */
  count?: number;
}

export interface MetricsRow {
  /** OOD set name. */
  ood: string;
  /** Score function name (energy, msp, ...). */
  score: string;
  fpr95: number;
  auroc: number;
  aupr_in: number;
  aupr_out: number;
}

export interface RunMetrics {
  /** ID test accuracy. */
  idAccuracy: number;
  /** The TPR the FPR column is taken at (0.95). */
  tpr?: number;
  rows: MetricsRow[];
  [extra: string]: unknown;
}

export interface HistoryEpoch {
  epoch: number;
  /** Mean cross-entropy over the epoch. */
  ce: number;
  /** Mean JSD between inlier and outlier energies; null in CE-only epochs. */
  jsd: number | null;
  /** Training accuracy over the epoch. */
  accuracy: number;
  valAccuracy?: number;
  lr?: number;
  seconds?: number;
}

export interface RunHistory {
  epochs: HistoryEpoch[];
}

/** Score arrays for the histograms (Fig. 3) and ROC curves: higher = more in-distribution. */
export interface ScoreArrays {
  score: string;
  /** Scores of ID test images. */
  id: number[];
  /** Scores of the ID validation images γ was set on (the exported page's histogram). */
  val?: number[];
  /** Scores per OOD set. */
  ood: Record<string, number[]>;
  /** Scores of virtual outliers (computed from their features through the head). */
  virtual?: number[];
}

export type FeatureKind = 'id' | 'ood' | 'virtual';

/** Penultimate features of one group, row-major [count, dim]. */
export interface FeatureGroup {
  name: string;
  kind: FeatureKind;
  features: Float32Array;
  /** Class labels, for ID groups. */
  labels?: Int32Array;
}

/** Images as an ImageSet holds them: NHWC float32 in [0, 1]. */
export interface ImageBatch {
  shape: [number, number, number];
  images: Float32Array;
}

export interface RunArtifacts {
  scores?: ScoreArrays;
  features?: { dim: number; groups: FeatureGroup[] };
  samples?: { pixmix?: ImageBatch; fractals?: ImageBatch };
}
