/** Assembles ReportData from a run folder's files, and writes report.html. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AresError } from '../errors.js';
import { isObject, readJsonFile } from '../run/json-file.js';
import { rocCurve, auroc } from '../metrics/index.js';
import { readRun, type RunFolder } from '../run/folder.js';
import { pngDataUrl } from '../run/images.js';
import { writeFileAtomic } from '../util/fs.js';
import { buildReport } from './html.js';
import type { ReportData, ScoreGroup, SelectionSummary } from './types.js';
import { embedFeatures, type EmbedOptions } from './umap.js';

export interface ReportOptions {
  title?: string;
  /** Shown under the title; default: the run folder. */
  subtitle?: string;
  umap?: EmbedOptions;
  /** Points per ROC curve drawn (the metrics use every point). Default 200. */
  rocPoints?: number;
  /** Sample images shown per kind. Default 24. */
  maxSamples?: number;
}

export function reportDataFromRun(run: RunFolder, opts: ReportOptions = {}): ReportData {
  const art = run.readArtifacts();
  const s = art.scores;
  const groups: ScoreGroup[] = s
    ? [
      { name: 'ID test', kind: 'id', values: s.id },
      ...Object.entries(s.ood).map(([name, values]) => ({ name, kind: 'ood' as const, values })),
      ...(s.virtual?.length ? [{ name: 'virtual outliers', kind: 'virtual' as const, values: s.virtual }] : []),
    ]
    : [];
  const roc = s && s.id.length
    ? Object.entries(s.ood).filter(([, v]) => v.length).map(([ood, values]) => ({
      ood, auroc: auroc(s.id, values),
      points: rocCurve(s.id, values, { maxPoints: opts.rocPoints ?? 200 }).map((p) => ({ fpr: p.fpr, tpr: p.tpr })),
    }))
    : [];
  const max = opts.maxSamples ?? 24;
  const method = typeof run.config.method === 'string' ? run.config.method : 'run';
  return {
    title: opts.title ?? `ares-ood report: ${method}${typeof run.config.id === 'string' ? ` on ${run.config.id}` : ''}`,
    subtitle: opts.subtitle ?? run.dir,
    config: run.config,
    detector: {
      score: run.detector.score.name, gamma: run.detector.threshold.gamma, tpr: run.detector.threshold.tpr, classNames: run.detector.classNames,
      thresholdCount: run.threshold.count, idValidationRejected: run.threshold.idValidationRejected,
    },
    selection: readSelection(run.paths.selection),
    accuracy: run.metrics?.idAccuracy ?? null,
    metrics: run.metrics?.rows ?? [],
    roc,
    scores: s ? { score: s.score, groups } : null,
    // A UMAP needs a few points: a run fitted on a handful of images shows no embedding, not an error.
    umap: art.features && featureRows(art.features) >= MIN_UMAP_POINTS ? embedFeatures(art.features.dim, art.features.groups, opts.umap) : null,
    history: run.history?.epochs ?? [],
    samples: { pixmix: art.samples.pixmix.slice(0, max).map(pngDataUrl), fractals: art.samples.fractals.slice(0, max).map(pngDataUrl) },
  };
}

const MIN_UMAP_POINTS = 3;

function featureRows(f: { dim: number; groups: { features: ArrayLike<number> }[] }): number {
  return f.groups.reduce((n, g) => n + g.features.length / f.dim, 0);
}

/** score-selection.json (written by --score auto), or null when the run has none. */
export function readSelection(file: string): SelectionSummary | null {
  if (!existsSync(file)) return null;
  const o = readJsonFile(file, 'score selection');
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (!isObject(o) || typeof o.chosen !== 'string' || !Array.isArray(o.candidates)) {
    throw new AresError('invalid score selection: expected { chosen, candidates, ... }', { file });
  }
  return {
    chosen: o.chosen, rule: String(o.rule ?? ''), tpr: num(o.tpr) ?? NaN,
    farSets: Array.isArray(o.farSets) ? o.farSets.map((s) => String(isObject(s) ? s.name : s)) : [],
    folds: Array.isArray(o.folds) ? o.folds.length : 0,
    candidates: o.candidates.filter(isObject).map((c) => ({
      score: String(c.score), farMean: num(c.farMean), nearMean: num(c.nearMean), objective: num(c.objective),
      excluded: typeof c.excluded === 'string' ? c.excluded : null,
    })),
  };
}

/** Reads a run folder and writes its report (default `<run>/report.html`); returns the file written. */
export function writeReport(runDir: string, opts: ReportOptions & { out?: string } = {}): string {
  const run = readRun(runDir);
  const out = opts.out ?? join(run.dir, 'report.html');
  writeFileAtomic(out, buildReport(reportDataFromRun(run, opts)));
  return out;
}
