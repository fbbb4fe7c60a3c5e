import type { FeatureKind, HistoryEpoch, MetricsRow } from '../run/types.js';

/** Scores of one group of images (ID, one OOD set, or the virtual outliers). */
export interface ScoreGroup {
  name: string;
  kind: FeatureKind;
  values: number[];
}

/** What the report and the exported page show of score-selection.json (FPR95 as fractions). */
export interface SelectionSummary {
  chosen: string;
  rule: string;
  tpr: number;
  farSets: string[];
  folds: number;
  candidates: { score: string; farMean: number | null; nearMean: number | null; objective: number | null; excluded: string | null }[];
}

/**
 * Everything the report shows, already computed: buildReport only lays it out. Rates are
 * fractions in [0, 1]; scores are higher = more in-distribution.
 */
export interface ReportData {
  title: string;
  /** Shown under the title (run folder, date); leave out for byte-identical reports. */
  subtitle?: string;
  config: Record<string, unknown>;
  detector?: {
    score: string; gamma: number; tpr: number; classNames: string[];
    /** ID validation images γ was set on, and the share of them it rejects (measured), when the run recorded them. */
    thresholdCount?: number; idValidationRejected?: number;
  };
  /** --score auto's record (score-selection.json): why the deployed score was chosen. */
  selection?: SelectionSummary | null;
  /** ID test accuracy. */
  accuracy: number | null;
  metrics: MetricsRow[];
  /** ROC points per OOD set, from (0, 0) to (1, 1), thinned for drawing. */
  roc: { ood: string; points: { fpr: number; tpr: number }[]; auroc?: number }[];
  scores: { score: string; groups: ScoreGroup[] } | null;
  /** 2-D embedding of features: point i is (x[i], y[i]) in groups[group[i]]. */
  umap: { x: number[]; y: number[]; group: number[]; groups: { name: string; kind: FeatureKind }[] } | null;
  history: HistoryEpoch[];
  /** PNG data URLs. */
  samples: { pixmix: string[]; fractals: string[] };
}

/** Element ids of the figures, for readers of the HTML (and its test). */
export const CHART_IDS = {
  roc: 'chart-roc',
  histogram: 'chart-scores',
  umap: 'chart-umap',
  ce: 'chart-ce',
  jsd: 'chart-jsd',
  energy: 'chart-energy',
  accuracy: 'chart-accuracy',
  pixmix: 'samples-pixmix',
  fractals: 'samples-fractals',
  metrics: 'metrics-table',
  config: 'config-table',
  selection: 'score-selection',
} as const;
