/**
 * `--score auto`: which score a run deploys, chosen by a written rule on validation data only.
 *
 * Why: no one score wins everywhere. On a plain softmax classifier the energy score accepts uniform
 * noise as known while Mahalanobis and ViM reject it; on PixMix-trained models ViM and KNN beat
 * energy. The choice is made per run, on data the run already has, and never on a test set.
 *
 * Candidates (simplicity/cost order, used for ties): energy, msp (logits only), mahalanobis, rmds
 * (class Gaussians), vim (principal subspace + head), knn (a bank of training features: the
 * largest detector.json and the slowest score). ODIN is not a candidate: it cannot be deployed.
 *
 * Validation sets (the ID side is always the ID validation split, never the test split):
 * - far: pixel-permuted, patch-shuffled, blurred (made from ID validation images), blobs, and the
 *   validation-only noise kinds salt-pepper, smooth-noise, solid, stripes, checkerboard
 *   (src/data/generated.ts, their own streams). The Gaussian and uniform generators are the
 *   benchmark's TEST OOD sets and are deliberately not used here.
 * - near: held-out-class folds, when at least 3 classes have training and validation images.
 *   Fold c asks "how well does this score flag a class the model does not know?": every candidate
 *   is fitted again on the training rows of the other classes only, logit c is dropped (for the
 *   logit scores, ViM's head and learned energy weights alike), the ID side is the validation
 *   images of the other classes and the OOD side those of class c. The network itself still saw
 *   class c in training, so a fold is an optimistic proxy for a truly new class — but it is the
 *   same proxy for every candidate, and it is the only near-OOD signal the ID data holds.
 *
 * THE RULE (written before it was measured on the benchmark grid; docs/validation-protocol.md):
 *   per candidate, FPR95 (at the run's TPR, γ on the ID validation side) on every validation set;
 *   far = mean over the far sets, near = mean over the folds;
 *   objective = (far + near) / 2 when there are folds (so neither family dominates however many
 *   sets each has), else far.
 *   1. Guards: a candidate is out when fitting or scoring it fails or gives NaN, and when on some
 *      far set its FPR95 is at or above the TPR — no better than chance there (a score that lets
 *      through a whole kind of input the averages could hide) — unless every candidate is out by
 *      that second guard, which is then lifted (recorded as `guardLifted`).
 *   2. The lowest objective wins,
 *   3. unless a simpler candidate is within 0.5 FPR95 points of it: the first candidate in the
 *      order above within that band wins.
 */
import { AresError } from '../errors.js';
import { deriveSet, DERIVED_KINDS, generateSet, VALIDATION_NOISE_KINDS } from '../data/generated.js';
import type { PreparedDataset } from '../data/prepare.js';
import type { ImageSet } from '../data/types.js';
import { fprAtTpr } from '../metrics/fpr.js';
import { energy, knn, mahalanobis, msp, rmds, vim, readMatrix, type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn } from '../scores/index.js';

export const AUTO_CANDIDATES = ['energy', 'msp', 'mahalanobis', 'rmds', 'vim', 'knn'] as const;
export type AutoCandidate = (typeof AUTO_CANDIDATES)[number];
/** The candidates of a model with no features to read (a graph model without a features node). */
export const LOGIT_CANDIDATES: readonly AutoCandidate[] = ['energy', 'msp'];

/** Rule constants: the tie band (FPR95 as a fraction) and the most held-out-class folds run. */
export const SCORE_RULE = { tie: 0.005, maxFolds: 10, maxSetImages: 1000, minSetImages: 50 } as const;

export const SCORE_RULE_TEXT = 'objective = mean of (mean validation FPR95 over the far sets) and (mean over the held-out-class folds; absent with fewer than 3 classes); '
  + 'out: candidates that fail or give NaN, and those no better than chance (FPR95 >= TPR) on some far set unless all are; '
  + 'lowest objective wins; candidates within 0.5 points of it tie and the first in the order energy, msp, mahalanobis, rmds, vim, knn wins';

/** A candidate's validation numbers (FPR95 as fractions), before the rule. */
export interface CandidateNumbers {
  score: AutoCandidate;
  /** FPR95 per far validation set. */
  far: Record<string, number>;
  /** FPR95 per held-out-class fold, keyed by the held-out class name. */
  near: Record<string, number>;
  /** Why fitting or scoring failed (then far/near may be incomplete), or null. */
  failure: string | null;
}

export interface CandidateVerdict extends CandidateNumbers {
  farMean: number;
  /** Null without folds. */
  nearMean: number | null;
  objective: number;
  /** The far set with the highest FPR95. */
  worstFar: { set: string; fpr95: number } | null;
  excluded: string | null;
}

/** What the run records (score-selection.json) and shows. */
export interface ScoreSelection {
  rule: string;
  tpr: number;
  chosen: AutoCandidate;
  /** True when every candidate was no better than chance on some far set and that guard was lifted. */
  guardLifted: boolean;
  candidates: CandidateVerdict[];
  farSets: { name: string; count: number }[];
  folds: { heldOut: string; idCount: number; oodCount: number }[];
  idValidationCount: number;
  seconds: number;
}

const mean = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN);

/** The rule above on plain numbers (pure; rows in any order, ties go by AUTO_CANDIDATES order). */
export function applyScoreRule(rows: CandidateNumbers[], tpr: number, tie: number = SCORE_RULE.tie): { rows: CandidateVerdict[]; chosen: AutoCandidate; guardLifted: boolean } {
  if (rows.length === 0) throw new Error('applyScoreRule: no candidates');
  const ordered = [...rows].sort((a, b) => AUTO_CANDIDATES.indexOf(a.score) - AUTO_CANDIDATES.indexOf(b.score));
  const base = ordered.map((r) => {
    const farValues = Object.values(r.far), nearValues = Object.values(r.near);
    const farMean = mean(farValues);
    const nearMean = nearValues.length ? mean(nearValues) : null;
    const worst = Object.entries(r.far).reduce<{ set: string; fpr95: number } | null>((w, [set, fpr95]) => (w === null || fpr95 > w.fpr95 ? { set, fpr95 } : w), null);
    return { ...r, farMean, nearMean, objective: nearMean === null ? farMean : (farMean + nearMean) / 2, worstFar: worst };
  });
  const broken = (r: (typeof base)[number]) => r.failure !== null || !Number.isFinite(r.objective);
  const chance = (r: (typeof base)[number]) => r.worstFar !== null && r.worstFar.fpr95 >= tpr;
  const guardLifted = base.filter((r) => !broken(r)).every(chance);
  const verdicts: CandidateVerdict[] = base.map((r) => ({
    ...r,
    excluded: broken(r) ? (r.failure ?? 'no finite validation FPR95')
      : !guardLifted && chance(r) ? `no better than chance on ${r.worstFar!.set} (FPR95 ${(100 * r.worstFar!.fpr95).toFixed(1)}% ≥ TPR ${(100 * tpr).toFixed(1)}%)` : null,
  }));
  const eligible = verdicts.filter((r) => r.excluded === null);
  // Energy needs nothing fitted and cannot fail; the fallback only matters for hand-made inputs.
  if (eligible.length === 0) return { rows: verdicts, chosen: 'energy', guardLifted };
  const lowest = Math.min(...eligible.map((r) => r.objective));
  const chosen = eligible.find((r) => r.objective <= lowest + tie + 1e-12)!.score;
  return { rows: verdicts, chosen, guardLifted };
}

/** At most this many bytes of float32 pixels per far validation set (a 224×224×3 set: 111 images). */
export const FAR_SET_BYTES = 64 * 1024 ** 2;

/**
 * The far validation sets of a run, each made when it is called: transforms of (at most
 * maxSetImages) ID validation images and generated validation noise of as many images (at least
 * minSetImages), drawn from their validation ('train') streams by `seed`. Large inputs get fewer
 * images (FAR_SET_BYTES per set), and the caller forwards one set before making the next, so only
 * one set's pixels are in memory at a time: nine sets of 1,000 images at 224×224×3 would be 5.4 GB.
 */
export function autoValidationSetMakers(data: PreparedDataset, seed: number): (() => ImageSet)[] {
  const val = data.val;
  if (val.count === 0) throw new AresError('--score auto needs ID validation images (raise --limit or the validation share)', { exitCode: 2 });
  const per = val.shape[0] * val.shape[1] * val.shape[2];
  const fits = Math.max(1, Math.floor(FAR_SET_BYTES / (4 * per)));
  const n = Math.min(val.count, SCORE_RULE.maxSetImages, fits);
  const head: ImageSet = { ...val, count: n, images: val.images.subarray(0, n * per), labels: val.labels?.subarray(0, n) };
  const count = Math.max(n, Math.min(SCORE_RULE.minSetImages, fits));
  return [
    ...DERIVED_KINDS.map((k) => () => deriveSet(k, head, seed)),
    ...(['blobs', ...VALIDATION_NOISE_KINDS] as const).map((k) => () => ({ ...generateSet(k, { shape: data.shape, count, seed, split: 'train' }), name: k })),
  ];
}

/** All far validation sets at once (small inputs, tests). */
export function autoValidationSets(data: PreparedDataset, seed: number): ImageSet[] {
  return autoValidationSetMakers(data, seed).map((make) => make());
}

/** Outputs of one set, as evaluate's forward pass gives them. */
export interface Outputs { name: string; rows: number; logits: Matrix; features: Matrix; labels?: Int32Array }

export interface SelectionInputs {
  tpr: number;
  /** ID validation outputs (with labels) and every candidate's scores on them. */
  val: Outputs;
  valScores: Partial<Record<AutoCandidate, Float64Array>>;
  /** Each candidate as fitted on all ID training data: outputs → scores. */
  scorers: Partial<Record<AutoCandidate, (o: Outputs) => Float64Array>>;
  /** The far validation sets' outputs (autoValidationSets, forwarded once). */
  far: Outputs[];
  /** ID training outputs with labels (and the head when linear): what the folds refit on. */
  train: () => LabelledOutputsIn;
  classNames: string[];
  energyWeights: ArrayLike<number> | null;
  /** The candidates to weigh (default all): energy and msp alone for a model whose features are its logits. */
  candidates?: readonly AutoCandidate[];
  /** Candidates that could not be fitted on the ID training data (e.g. knn with fewer images than k), and why. */
  failures?: Partial<Record<AutoCandidate, string>>;
}

/** Every candidate's validation numbers and the rule's choice. */
export function selectScore(inp: SelectionInputs): ScoreSelection {
  const t0 = performance.now();
  const candidates = inp.candidates ?? AUTO_CANDIDATES;
  // A candidate without validation scores could not be fitted: it is out, with its failure.
  for (const s of candidates) if (!inp.valScores[s] && !inp.failures?.[s]) throw new AresError(`--score auto: no validation scores for ${s}`);
  const numbers = new Map<AutoCandidate, CandidateNumbers>(candidates.map((s) => [s, { score: s, far: {}, near: {}, failure: inp.failures?.[s] ?? null }]));
  const attempt = (s: AutoCandidate, f: () => void) => {
    const row = numbers.get(s)!;
    if (row.failure) return;
    try { f(); } catch (err) {
      if (!(err instanceof AresError) && !(err instanceof RangeError)) throw err;
      row.failure = err.message;
    }
  };
  for (const s of candidates) {
    attempt(s, () => {
      const id = inp.valScores[s]!;
      for (const o of inp.far) numbers.get(s)!.far[o.name] = fprAtTpr(id, inp.scorers[s]!(o), { tpr: inp.tpr }).fpr;
    });
  }
  const folds = foldClasses(inp.train().labels, inp.val.labels, inp.classNames.length);
  const foldRows: ScoreSelection['folds'] = [];
  if (folds.length > 0) {
    const train = inp.train();
    for (const c of folds) {
      const fold = heldOutFold(train, inp.val, c);
      foldRows.push({ heldOut: inp.classNames[c], idCount: fold.id.logits.rows, oodCount: fold.ood.logits.rows });
      const weights = inp.energyWeights ? dropIndex(inp.energyWeights, c) : null;
      for (const s of candidates) {
        attempt(s, () => {
          const det = candidate(s, weights);
          det.fit(fold.train);
          numbers.get(s)!.near[inp.classNames[c]] = fprAtTpr(det.score(fold.id), det.score(fold.ood), { tpr: inp.tpr }).fpr;
        });
      }
    }
  }
  const verdict = applyScoreRule([...numbers.values()], inp.tpr);
  return {
    rule: SCORE_RULE_TEXT, tpr: inp.tpr, chosen: verdict.chosen, guardLifted: verdict.guardLifted, candidates: verdict.rows,
    farSets: inp.far.map((o) => ({ name: o.name, count: o.rows })), folds: foldRows, idValidationCount: inp.val.rows,
    seconds: (performance.now() - t0) / 1000,
  };
}

function candidate(s: AutoCandidate, weights: ArrayLike<number> | null): Detector<OutputsIn, LabelledOutputsIn, unknown> {
  switch (s) {
    case 'energy': return energy({ weights: weights ?? undefined }) as Detector<OutputsIn, LabelledOutputsIn, unknown>;
    case 'msp': return msp() as Detector<OutputsIn, LabelledOutputsIn, unknown>;
    case 'mahalanobis': return mahalanobis();
    case 'rmds': return rmds();
    case 'vim': return vim();
    case 'knn': return knn();
  }
}

/**
 * The classes folds hold out: those with training and validation images, when at least 3 have
 * them (a fold keeps at least 2 known classes); at most maxFolds, spread evenly over the classes.
 */
export function foldClasses(trainLabels: ArrayLike<number>, valLabels: ArrayLike<number> | undefined, numClasses: number): number[] {
  if (!valLabels) return [];
  const inTrain = new Set(Array.from(trainLabels)), inVal = new Set(Array.from(valLabels));
  const usable = Array.from({ length: numClasses }, (_, c) => c).filter((c) => inTrain.has(c) && inVal.has(c));
  if (usable.length < 3) return [];
  if (usable.length <= SCORE_RULE.maxFolds) return usable;
  return Array.from({ length: SCORE_RULE.maxFolds }, (_, i) => usable[Math.floor((i * usable.length) / SCORE_RULE.maxFolds)]);
}

/** Fold c: training rows without class c (labels above c shifted down), logit c dropped everywhere. */
export function heldOutFold(train: LabelledOutputsIn, val: Outputs, c: number): { train: LabelledOutputsIn; id: OutputsIn & { logits: Matrix }; ood: OutputsIn & { logits: Matrix } } {
  const logits = readMatrix(train.logits, 'training logits');
  const features = readMatrix(train.features!, 'training features');
  const keep = rowsWhere(train.labels, (y) => y !== c);
  const labels = Int32Array.from(keep, (i) => (train.labels[i] > c ? train.labels[i] - 1 : train.labels[i]));
  const head = train.head && {
    kernel: dropColumn(train.head.kernel, c),
    bias: train.head.bias ? Float32Array.from(dropIndex(train.head.bias, c)) : null,
  };
  const vl = val.labels!;
  const idRows = rowsWhere(vl, (y) => y !== c), oodRows = rowsWhere(vl, (y) => y === c);
  const side = (rows: Int32Array) => ({ logits: dropColumn(pickRows(val.logits, rows), c), features: pickRows(val.features, rows) });
  return {
    train: { logits: dropColumn(pickRows(logits, keep), c), features: pickRows(features, keep), labels, ...(head ? { head } : {}) },
    id: side(idRows), ood: side(oodRows),
  };
}

function rowsWhere(labels: ArrayLike<number>, keep: (y: number) => boolean): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (keep(labels[i])) out.push(i);
  return Int32Array.from(out);
}

function pickRows(m: Matrix, rows: Int32Array): Matrix {
  const data = new Float32Array(rows.length * m.cols);
  rows.forEach((r, i) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return { data, rows: rows.length, cols: m.cols };
}

function dropColumn(m: Matrix, c: number): Matrix {
  const cols = m.cols - 1;
  const data = new Float32Array(m.rows * cols);
  for (let r = 0; r < m.rows; r++) {
    for (let k = 0, j = 0; k < m.cols; k++) if (k !== c) data[r * cols + j++] = m.data[r * m.cols + k];
  }
  return { data, rows: m.rows, cols };
}

function dropIndex(v: ArrayLike<number>, c: number): number[] {
  return Array.from(v).filter((_, k) => k !== c);
}

/** The selection as an aligned text table (FPR95 in %), for the CLI. */
export function formatSelection(s: ScoreSelection): string {
  const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '—' : (100 * x).toFixed(2)).padStart(8);
  const lines = [
    `score auto: ${s.chosen} (validation FPR95 at TPR ${(100 * s.tpr).toFixed(0)}%: ${s.farSets.length} far sets, ${s.folds.length} held-out-class folds; ${s.seconds.toFixed(1)} s)`,
    `${'candidate'.padEnd(12)}  far      near     objective  worst far set            excluded`,
  ];
  for (const c of s.candidates) {
    const worst = c.worstFar ? `${c.worstFar.set} ${(100 * c.worstFar.fpr95).toFixed(1)}` : '—';
    lines.push(`${(c.score + (c.score === s.chosen ? ' *' : '')).padEnd(12)}  ${pct(c.farMean)} ${pct(c.nearMean)} ${pct(c.objective)}   ${worst.padEnd(24)} ${c.excluded ?? '—'}`);
  }
  lines.push(`rule: ${s.rule}${s.guardLifted ? ' (chance guard lifted: every candidate failed it)' : ''}`);
  return lines.join('\n');
}
