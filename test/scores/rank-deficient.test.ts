/**
 * Mahalanobis, RMDS and ViM on rank-deficient features (fewer rows than dimensions, duplicated rows,
 * collinear features), against references built here from ml-matrix's SVD pseudo-inverse, LU inverse
 * and SVD (none of which the detectors use: they go through Cholesky and a symmetric eigensolver).
 *
 * The references spell out the design of src/scores/mahalanobis.ts, rmds.ts and vim.ts:
 *   MD_c(h) = yᵀ Σ⁺ y + ‖(I − Σ⁺Σ) y‖² / f,  y = h − μ_c,  f = Σ's smallest non-zero eigenvalue
 *   RMDS background: (Σ_0 + f·(I − Σ⁺Σ))⁻¹, the same lift as the class Gaussians
 *   ViM: the default D is ⌈r/2⌉ with r = rank of the u-centred features (< d); an asked D ≥ r is clamped to it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { inverse as mlInverse, Matrix as MlMatrix, pseudoInverse as mlPinv, SingularValueDecomposition } from 'ml-matrix';
import { initEngine } from '../../src/engine/backend.js';
import type { ImageSet } from '../../src/data/types.js';
import { AresError } from '../../src/errors.js';
import { evaluate } from '../../src/eval/evaluate.js';
import type { Classifier } from '../../src/models/types.js';
import { auroc } from '../../src/metrics/index.js';
import {
  fittedScorer, fittedScoreSpec, mahalanobis, rmds, vim, type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn,
} from '../../src/scores/index.js';
import { cholesky, liftNullSpace, minEigenLowerBound, symmetricEigen } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

type Kind = 'few-rows' | 'duplicates' | 'collinear';

interface Data extends LabelledOutputsIn {
  features: Matrix;
  logits: Matrix;
  labels: Int32Array;
  head: { kernel: Matrix; bias: Float64Array };
}

interface Made {
  train: Data;
  /** Fresh rows from the same distribution, and rows pushed away from it (in and off the span). */
  test: Data;
  /** Rank of the class-centred training features. */
  rank: number;
}

/**
 * Features x = μ_c + A·z with A a random [d, k] map (k = d: full-rank truth; k < d: collinear),
 * logits = x·W + b. 'few-rows': n rows drawn afresh (rank-deficient when n < d); 'duplicates': n0 < d distinct rows, each 1–3
 * times; 'collinear': N = 3d rows in a k-dimensional subspace.
 */
function makeData(kind: Kind, d: number, K: number, n: number, seed: number, f32: boolean): Made {
  const rng = new Rng(seed);
  const k = kind === 'collinear' ? Math.max(1, Math.min(n, d - 2)) : d;
  const A = Float64Array.from({ length: d * k }, (_, i) => rng.normal() * (1 - 0.8 * ((i % k) / k)));
  const mu = Float64Array.from({ length: K * d }, () => 3 * rng.normal());
  const W = Float64Array.from({ length: d * K }, () => rng.normal());
  const b = Float64Array.from({ length: K }, () => rng.normal());
  const distinct = kind === 'collinear' ? 3 * d : n;
  const draw = (c: number, spread: number) => {
    const z = Array.from({ length: k }, () => spread * rng.normal());
    return Array.from({ length: d }, (_, j) => mu[c * d + j] + z.reduce((s, v, t) => s + A[j * k + t] * v, 0));
  };
  const trainRows: { x: number[]; c: number }[] = [];
  for (let i = 0; i < distinct; i++) {
    const row = { x: draw(i % K, 1), c: i % K };
    const copies = kind === 'duplicates' ? 1 + (i % 3) : 1;
    for (let t = 0; t < copies; t++) trainRows.push(row);
  }
  const testRows: { x: number[]; c: number }[] = [];
  for (let i = 0; i < 30; i++) testRows.push({ x: draw(i % K, 1), c: i % K });
  for (let i = 0; i < 15; i++) testRows.push({ x: draw(i % K, 3), c: i % K });
  for (let i = 0; i < 15; i++) testRows.push({ x: draw(i % K, 1).map((v) => v + 2 * rng.normal()), c: i % K });
  const pack = (rows: { x: number[]; c: number }[]): Data => {
    const N = rows.length;
    const x = f32 ? new Float32Array(N * d) : new Float64Array(N * d);
    rows.forEach((r, i) => x.set(r.x, i * d));
    const logits = new Float64Array(N * K);
    for (let i = 0; i < N; i++) for (let c = 0; c < K; c++) {
      let s = b[c];
      for (let j = 0; j < d; j++) s += x[i * d + j] * W[j * K + c];
      logits[i * K + c] = s;
    }
    return {
      features: { data: x, rows: N, cols: d }, logits: { data: logits, rows: N, cols: K }, labels: Int32Array.from(rows, (r) => r.c),
      head: { kernel: { data: W, rows: d, cols: K }, bias: b },
    };
  };
  const rank = kind === 'collinear' ? k : distinct - K;
  return { train: pack(trainRows), test: pack(testRows), rank };
}

// ---- references ---------------------------------------------------------------------------------

const rowOf = (m: Matrix, r: number) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const times = (M: MlMatrix, y: number[]) => M.mmul(MlMatrix.columnVector(y)).getColumn(0);

/** Class means and the tied covariance (MLE), or of all rows when `oneClass`. */
function gaussians(t: Data, oneClass = false) {
  const X = Array.from({ length: t.features.rows }, (_, r) => rowOf(t.features, r));
  const d = t.features.cols, K = oneClass ? 1 : t.logits.cols;
  const label = (i: number) => (oneClass ? 0 : t.labels[i]);
  const mu = Array.from({ length: K }, (_, c) => {
    const rows = X.filter((_, i) => label(i) === c);
    return Array.from({ length: d }, (_, j) => rows.reduce((s, x) => s + x[j], 0) / rows.length);
  });
  const cov = MlMatrix.zeros(d, d);
  X.forEach((x, i) => {
    const y = x.map((v, j) => v - mu[label(i)][j]);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov.set(a, b, cov.get(a, b) + y[a] * y[b] / X.length);
  });
  return { mu, cov };
}

/** Σ⁺ (SVD, cut at 1e-8·s_max), the projector onto Σ's span, its rank and smallest kept eigenvalue. */
function spanOf(cov: MlMatrix) {
  const n = cov.rows;
  const s = new SingularValueDecomposition(cov).diagonal;
  const rank = s.filter((v) => v > 1e-8 * s[0]).length;
  const pinv = mlPinv(cov, 1e-8 / n);
  return { pinv, proj: pinv.mmul(cov), rank, floor: s[rank - 1], trace: s.slice(0, rank).reduce((a, v) => a + v, 0) };
}

function refMahalanobisDistances(train: Data) {
  const { mu, cov } = gaussians(train);
  const sp = spanOf(cov);
  const md = (h: number[]) => Math.min(...mu.map((m) => {
    const y = h.map((v, j) => v - m[j]);
    const py = times(sp.proj, y);
    const off = y.reduce((s, v, j) => s + (v - py[j]) ** 2, 0);
    return dot(y, times(sp.pinv, y)) + off / sp.floor;
  }));
  /** The plain pseudo-inverse distance, blind off the span. */
  const pinvOnly = (h: number[]) => Math.min(...mu.map((m) => { const y = h.map((v, j) => v - m[j]); return dot(y, times(sp.pinv, y)); }));
  return { md, pinvOnly, sp };
}

function refMahalanobis(train: Data) {
  const r = refMahalanobisDistances(train);
  return (h: number[]) => -r.md(h);
}

function refRmds(train: Data) {
  const classes = refMahalanobisDistances(train);
  const d = train.features.cols;
  const { mu: [mu0], cov: cov0 } = gaussians(train, true);
  const lifted = cov0.clone().add(MlMatrix.eye(d).sub(classes.sp.proj).mul(classes.sp.floor));
  const inv0 = mlInverse(lifted);
  return (h: number[]) => { const y = h.map((v, j) => v - mu0[j]); return dot(y, times(inv0, y)) - classes.md(h); };
}

const lse = (l: number[]) => { const m = Math.max(...l); return m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0)); };

/** ViM from an SVD of the u-centred training features (u = −pinv(Wᵀ)b, or the mean without a head). */
function refVim(train: Data, useHead: boolean) {
  const X = Array.from({ length: train.features.rows }, (_, r) => rowOf(train.features, r));
  const d = train.features.cols, K = train.logits.cols;
  const u = useHead
    ? times(mlPinv(new MlMatrix(Array.from({ length: K }, (_, k) => Array.from({ length: d }, (_, j) => train.head.kernel.data[j * K + k])))), Array.from(train.head.bias)).map((v) => -v)
    : Array.from({ length: d }, (_, j) => X.reduce((s, x) => s + x[j], 0) / X.length);
  const Y = new MlMatrix(X.map((x) => x.map((v, j) => v - u[j])));
  const svd = new SingularValueDecomposition(Y, { autoTranspose: true });
  const s = svd.diagonal;
  const rank = s.filter((v) => v > 3e-6 * s[0]).length;
  const D = rank < d ? Math.ceil(rank / 2) : Math.ceil(d / 2);
  const V = svd.rightSingularVectors;
  const residual = (x: number[]) => {
    const y = x.map((v, j) => v - u[j]);
    let inP = 0;
    for (let t = 0; t < D; t++) inP += dot(V.getColumn(t), y) ** 2;
    return Math.sqrt(Math.max(0, dot(y, y) - inP));
  };
  const trainLogits = Array.from({ length: X.length }, (_, r) => rowOf(train.logits, r));
  const alpha = trainLogits.reduce((a, l) => a + Math.max(...l), 0) / X.reduce((a, x) => a + residual(x), 0);
  return { D, rank, score: (x: number[], l: number[]) => lse(l) - alpha * residual(x) };
}

/** Spearman's rank correlation (ties get their mean rank). */
function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ranks = (v: ArrayLike<number>) => {
    const idx = Array.from(v, (_, i) => i).sort((i, j) => v[i] - v[j]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (let t = i; t <= j; t++) r[idx[t]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a), rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < ra.length; i++) { num += (ra[i] - mean) * (rb[i] - mean); da += (ra[i] - mean) ** 2; db += (rb[i] - mean) ** 2; }
  return num / Math.sqrt(da * db);
}

const maxAbs = (s: Float64Array) => s.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

// ---- properties ---------------------------------------------------------------------------------

const cases = fc.record({
  kind: fc.constantFrom<Kind>('few-rows', 'duplicates', 'collinear'),
  d: fc.integer({ min: 6, max: 16 }),
  K: fc.integer({ min: 2, max: 3 }),
  fill: fc.double({ min: 0.3, max: 0.9, noNaN: true }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  f32: fc.boolean(),
});
/** Distinct rows: at least 2 per class, fewer than d. */
const rowsFor = (c: { d: number; K: number; fill: number }) => Math.max(2 * c.K, Math.min(c.d - 1, Math.round(c.fill * c.d)));

describe('mahalanobis and rmds on rank-deficient features', () => {
  it('finite, within 1e6 on their own training data, ranked as the lifted pseudo-inverse reference (Spearman ≥ 0.999)', () => {
    fc.assert(fc.property(cases, (c) => {
      const { train, test, rank } = makeData(c.kind, c.d, c.K, rowsFor(c), c.seed, c.f32);
      const m = mahalanobis().fit(train);
      const r = rmds().fit(train);
      expect(m.warnings).toEqual([expect.stringContaining(`${train.features.rows} training rows for ${c.d} feature dimensions (rank ${rank})`)]);
      expect(r.warnings).toHaveLength(1);
      for (const det of [m, r]) {
        const s = det.score(test);
        expect(s.every(Number.isFinite)).toBe(true);
        expect(maxAbs(det.score(train))).toBeLessThan(1e6);
      }
      const rows = Array.from({ length: test.features.rows }, (_, i) => rowOf(test.features, i));
      const refM = refMahalanobis(train), refR = refRmds(train);
      expect(spearman(m.score(test), rows.map(refM))).toBeGreaterThanOrEqual(0.999);
      expect(spearman(r.score(test), rows.map(refR))).toBeGreaterThanOrEqual(0.999);
      // Not only the order: the values themselves, to the accuracy a condition number ≤ 1e10 allows.
      m.score(test).forEach((v, i) => expect(Math.abs(v - refM(rows[i]))).toBeLessThan(1e-4 * Math.max(1, Math.abs(refM(rows[i])))));
    }), { numRuns: 40, seed: 20261204 });
  });

  it('one class: every training row lies in the span, where the score is exactly the pseudo-inverse one', () => {
    fc.assert(fc.property(cases, (c) => {
      const { train, rank } = makeData(c.kind, c.d, 1, rowsFor(c), c.seed, false);
      expect(rank).toBeLessThan(c.d);
      const ref = refMahalanobisDistances(train);
      const s = mahalanobis().fit(train).score(train);
      const want = Array.from({ length: train.features.rows }, (_, i) => -ref.pinvOnly(rowOf(train.features, i)));
      s.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(want[i]))));
    }), { numRuns: 25, seed: 7 });
  });

  it('planted case: ID in an 8-dimensional subspace of 24-d, outliers as far from their class mean but off the span: Mahalanobis AUROC ≈ 1 (a plain pseudo-inverse: ≈ 0.5)', () => {
    const d = 24, K = 3;
    const { train, test } = makeData('collinear', d, K, 8, 11, false);
    const take = (t: Data, n: number): Data => ({
      ...t, labels: t.labels.slice(0, n),
      features: { data: t.features.data.slice(0, n * d), rows: n, cols: d }, logits: { data: t.logits.data.slice(0, n * K), rows: n, cols: K },
    });
    const id = take(test, 30);
    const ref = refMahalanobisDistances(train);
    // Off the span: a random direction with its part in the span of the training rows (and so of
    // every centred version of them) removed, scaled to the typical distance of an ID row from its
    // class mean, √tr Σ; its logits are those of the moved features.
    const X = new MlMatrix(Array.from({ length: train.features.rows }, (_, r) => rowOf(train.features, r)));
    const rowSpace = mlPinv(X).mmul(X);
    const typical = Math.sqrt(gaussians(train).cov.trace());
    const rng = new Rng(3);
    const ood = take(test, 30);
    ood.features.data = Float64Array.from(id.features.data);
    ood.logits.data = Float64Array.from(id.logits.data);
    for (let i = 0; i < 30; i++) {
      const g = Array.from({ length: d }, () => rng.normal());
      const pg = times(rowSpace, g);
      const off = g.map((v, j) => v - pg[j]);
      const norm = Math.sqrt(dot(off, off));
      for (let j = 0; j < d; j++) ood.features.data[i * d + j] += typical * off[j] / norm;
      for (let c = 0; c < K; c++) for (let j = 0; j < d; j++) ood.logits.data[i * K + c] += typical * off[j] / norm * train.head.kernel.data[j * K + c];
    }
    const m = mahalanobis().fit(train);
    expect(m.warnings).toHaveLength(1);
    expect(auroc(m.score(id), m.score(ood))).toBeGreaterThan(0.99);
    // ViM's residual keeps half the in-span variance (D = ⌈rank/2⌉), so a move off the span of one
    // typical ID distance is caught less surely than by Mahalanobis; three of them surely.
    const v = vim().fit(train);
    expect(v.warnings).toHaveLength(1);
    const farther = { ...ood, features: { ...ood.features, data: ood.features.data.map((x, i) => 3 * x - 2 * id.features.data[i]) },
      logits: { ...ood.logits, data: ood.logits.data.map((x, i) => 3 * x - 2 * id.logits.data[i]) } };
    expect(auroc(v.score(id), v.score(ood))).toBeGreaterThan(0.8);
    expect(auroc(v.score(id), v.score(farther))).toBeGreaterThan(0.99);
    // RMDS cancels a move off the span of all training rows (see rmds.ts): the same score as unmoved.
    const r = rmds().fit(train);
    const [sId, sOod] = [r.score(id), r.score(ood)];
    sId.forEach((v, i) => expect(Math.abs(sOod[i] - v)).toBeLessThan(1e-6 * Math.max(1, Math.abs(v))));
    const pinvScore = (t: Data) => Array.from({ length: t.features.rows }, (_, i) => -ref.pinvOnly(rowOf(t.features, i)));
    expect(auroc(pinvScore(id), pinvScore(ood))).toBeLessThan(0.7);
  });

  it('the reported failure, 90 rows of 256-d features: no score beyond 1e6; Mahalanobis ranks fresh ID rows above in-span, shifted and scaled outliers, RMDS above shifted and scaled ones', () => {
    const d = 256, K = 3;
    const rng = new Rng(5);
    const mu = Array.from({ length: K * d }, () => 2 * rng.normal());
    const make = (n: number, spread: number, offset = 0) => {
      const x = new Float32Array(n * d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = mu[(i % K) * d + j] + offset + spread * rng.normal() / Math.sqrt(1 + j / 16);
      return { features: { data: x, rows: n, cols: d }, logits: { data: new Float32Array(n * K), rows: n, cols: K }, labels: Int32Array.from({ length: n }, (_, i) => i % K) };
    };
    const train = make(90, 1), id = make(100, 1);
    // Outliers inside the training span: class means plus 4× a training row's deviation.
    const inSpan = make(60, 0);
    for (let i = 0; i < 60; i++) {
      const t = (i % 30) * 3 + (i % K);
      for (let j = 0; j < d; j++) inSpan.features.data[i * d + j] = mu[(i % K) * d + j] + 4 * (train.features.data[t * d + j] - mu[(i % K) * d + j]);
    }
    const shifted = make(60, 1, 1.5);
    const scaled = make(60, 4);
    const measured: Record<string, number[]> = {};
    for (const det of [mahalanobis(), rmds()] as Detector<OutputsIn, LabelledOutputsIn, unknown>[]) {
      det.fit(train);
      expect(det.warnings![0], det.name).toMatch(/90 training rows for 256 feature dimensions \(rank 87\)/);
      const idScores = det.score(id);
      expect(maxAbs(det.score(train)), det.name).toBeLessThan(1e6);
      expect(maxAbs(idScores), det.name).toBeLessThan(1e6);
      measured[det.name] = [inSpan, shifted, scaled].map((o) => auroc(idScores, det.score(o)));
    }
    expect(Math.min(...measured.mahalanobis)).toBeGreaterThan(0.99);
    expect(measured.rmds[1]).toBeGreaterThan(0.95);
    expect(measured.rmds[2]).toBeGreaterThan(0.9);
    // RMDS's relative term is small in directions without between-class spread, in-span outliers
    // included (at 2000 rows, full rank: 0.97); with 90 rows it ranks them about like fresh ID rows,
    // no longer above them all (0.00 with jitter, and with an off-span charge in the background).
    expect(measured.rmds[0]).toBeGreaterThan(0.3);
  });
});

describe('vim on rank-deficient features', () => {
  it('default D = ⌈rank/2⌉ below full rank; finite α and scores, within 1e6 on the training data, ranked as the SVD reference', () => {
    fc.assert(fc.property(cases, fc.boolean(), (c, useHead) => {
      const { train, test } = makeData(c.kind, c.d, c.K, rowsFor(c), c.seed, c.f32);
      const data = useHead ? train : { features: train.features, logits: train.logits, labels: train.labels };
      const det = vim().fit(data);
      const ref = refVim(train, useHead);
      const st = det.state!;
      expect(st.principalDim).toBe(ref.D);
      expect(st.principalDim).toBeLessThan(ref.rank);
      expect(Number.isFinite(st.alpha)).toBe(true);
      expect(det.warnings).toHaveLength(ref.D < Math.ceil(c.d / 2) ? 1 : 0);
      const s = det.score(test);
      expect(s.every(Number.isFinite)).toBe(true);
      expect(maxAbs(det.score(train))).toBeLessThan(1e6);
      const want = Array.from({ length: test.features.rows }, (_, i) => ref.score(rowOf(test.features, i), rowOf(test.logits, i)));
      expect(spearman(s, want)).toBeGreaterThanOrEqual(0.999);
    }), { numRuns: 40, seed: 4242 });
  });

  it('dead units (constant features) are no deficiency: D and the scores stay as for full rank, no warning', () => {
    const { train: full } = makeData('few-rows', 10, 2, 80, 12, false);
    // 10 live features and 6 dead ones (always 0): 16-d, default D = 8; the u-centred rank is 11.
    const d = 16, n = full.features.rows;
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) x.set(full.features.data.subarray(i * 10, (i + 1) * 10), i * d);
    const det = vim().fit({ features: { data: x, rows: n, cols: d }, logits: full.logits, labels: full.labels });
    expect(det.state!.principalDim).toBe(8);
    expect(det.warnings).toEqual([]);
  });

  it('an explicit D at or above the rank is clamped too (with the warning); one below is kept; rank < 2 is refused', () => {
    const { train } = makeData('few-rows', 12, 2, 6, 9, false);
    const clamped = vim({ principalDim: 8 }).fit(train);
    expect(clamped.state!.principalDim).toBe(3);
    expect(clamped.warnings![0]).toMatch(/^vim: 6 training rows for 12 feature dimensions \(rank 6\): principal subspace D = 3 instead of 8/);
    const kept = vim({ principalDim: 5 }).fit(train);
    expect(kept.state!.principalDim).toBe(5);
    expect(kept.warnings).toEqual([]);
    const one = makeData('few-rows', 12, 1, 1, 9, false).train;
    expect(() => vim().fit({ features: one.features, logits: one.logits, labels: one.labels })).toThrow(/span 0 dimension\(s\).*needs at least 2/);
  });
});

describe('full-rank features are untouched', () => {
  it('no warnings, no lift: the state is the plain Cholesky factor of Σ, and restore() clears warnings', () => {
    // 60 rows of 6-d features from a full-rank distribution.
    const { train: big } = makeData('few-rows', 6, 2, 60, 2, false);
    const m = mahalanobis().fit(big);
    expect(m.warnings).toEqual([]);
    const L = cholesky(Float64Array.from(gaussians(big).cov.to1DArray()), 6)!;
    m.state!.chol.forEach((v, i) => expect(v).toBeCloseTo(L[i], 12));
    expect(m.state!.jitter).toBe(0);
    expect(vim().fit(big).warnings).toEqual([]);
    expect(rmds().fit(big).warnings).toEqual([]);
    const deficient = mahalanobis().fit(makeData('few-rows', 6, 2, 5, 1, false).train);
    expect(deficient.warnings).toHaveLength(1);
    deficient.restore(deficient.state!);
    expect(deficient.warnings).toEqual([]);
  });
});

describe('the stored state scores as the fitted detector (what detector.json and an exported bundle run)', () => {
  it.each(['mahalanobis', 'rmds', 'vim'] as const)('%s, rank-deficient', (name) => {
    const { train, test } = makeData('few-rows', 14, 3, 6, 31, true);
    const det = ({ mahalanobis: () => mahalanobis(), rmds: () => rmds(), vim: () => vim() })[name]().fit(train) as Detector<OutputsIn, LabelledOutputsIn, unknown>;
    expect(det.warnings).toHaveLength(1);
    const spec = JSON.parse(JSON.stringify(fittedScoreSpec(det)));
    expect(fittedScorer(spec, 'd.json')(test)).toEqual(det.score(test));
  });
});

describe('linalg: the span and its lift', () => {
  it('1/trace(Σ⁻¹) is a lower bound on λ_min; a full-rank Σ comes back as the same array', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 9 }), fc.integer({ min: 1, max: 10_000 }), (n, seed) => {
      const rng = new Rng(seed);
      const B = Float64Array.from({ length: n * (n + 2) }, () => rng.normal());
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let t = 0; t < n + 2; t++) a[i * n + j] += B[i * (n + 2) + t] * B[j * (n + 2) + t];
      const lmin = symmetricEigen(a, n).values[n - 1];
      const bound = minEigenLowerBound(cholesky(a, n)!, n);
      expect(bound).toBeLessThanOrEqual(lmin * (1 + 1e-9));
      expect(bound).toBeGreaterThanOrEqual(lmin / n * (1 - 1e-9));
      const lifted = liftNullSpace(a, n, 1);
      expect(lifted.cov).toBe(a);
      expect(lifted.rank).toBe(n);
    }), { numRuns: 50, seed: 3 });
  });

  it('a rank-r Σ is lifted to its smallest non-zero eigenvalue off the span, and left alone on it', () => {
    // Σ = diag(4, 1, 0): rank 2, floor 1.
    const a = Float64Array.from([4, 0, 0, 0, 1, 0, 0, 0, 0]);
    const l = liftNullSpace(a, 3, 1);
    expect(l.rank).toBe(2);
    expect(l.floor).toBeCloseTo(1, 12);
    expect(Array.from(l.cov).map((v) => Math.round(v * 1e12) / 1e12)).toEqual([4, 0, 0, 0, 1, 0, 0, 0, 1]);
    // A known rank bound below n skips the full-rank test and still finds rank 3 when it is.
    expect(liftNullSpace(Float64Array.from([2, 0, 0, 1]), 2, 1, 1).rank).toBe(2);
  });

  it('float32 rounding of exactly collinear features is not mistaken for variance', () => {
    const { train, rank } = makeData('collinear', 12, 2, 8, 17, true);
    expect(mahalanobis().fit(train).warnings![0]).toContain(`(rank ${rank})`);
  });

  it('… also when the features sit far from 0 (rounding noise above 1e-10 of the largest variance)', () => {
    // Values near 3000 (float32 step 2⁻¹³), spread 1: a rounding error has variance ~1e-9, ten times the
    // relative cut-off; the float32 floor (2⁻⁴⁶·mean x²) still tells it from variance.
    const rng = new Rng(4), n = 200, d = 6;
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: 4 }, () => rng.normal());
      [...z, z[0] + z[1], z[2] - z[3]].forEach((v, j) => { x[i * d + j] = 3000 + v; });
    }
    const data = { features: { data: x, rows: n, cols: d }, logits: { data: new Float32Array(n * 2), rows: n, cols: 2 }, labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
    expect(mahalanobis().fit(data).warnings![0]).toContain('(rank 4)');
  });

  it('every feature constant up to float32 rounding is refused', () => {
    const x = Float32Array.from({ length: 40 }, (_, i) => 1e6 + (i % 2 ? 0.0625 : 0));
    const data = { features: { data: x, rows: 20, cols: 2 }, logits: { data: new Float32Array(20), rows: 20, cols: 1 }, labels: new Int32Array(20) };
    expect(() => mahalanobis().fit(data)).toThrow(AresError);
  });
});

describe('evaluate passes the warning on (what ares fit, eval and train print)', () => {
  it('features [a, b, a + b, a − b] computed in float32 by the model: rank 2 of 4, one line for mahalanobis and one for rmds', () => {
    const features = (x: tf.Tensor) => tf.tidy(() => {
      const f = tf.reshape(x, [x.shape[0], 2]);
      const [a, b] = tf.split(f, 2, 1);
      return tf.concat([a, b, tf.add(a, b), tf.sub(a, b)], 1) as tf.Tensor2D;
    });
    const head = (f: tf.Tensor2D) => tf.tidy(() => tf.mul(tf.slice(f, [0, 0], [-1, 2]), 10) as tf.Tensor2D);
    const model: Classifier = {
      name: 'cnn', inputShape: [1, 1, 2], numClasses: 2, featureDim: 4,
      apply: (x) => tf.tidy(() => { const f = features(x); return { logits: head(f), features: f }; }),
      head, trainableVariables: [], allVariables: [], layersModel: null as unknown as tf.LayersModel,
    };
    const rng = new Rng(8);
    const set = (name: string, n: number): ImageSet => ({
      name, shape: [1, 1, 2], count: n, images: Float32Array.from({ length: 2 * n }, () => 0.5 + 0.2 * rng.normal()), split: 'all',
      labels: Int32Array.from({ length: n }, (_, i) => i % 2), classNames: ['a', 'b'],
    });
    const data = { train: set('train', 40), val: set('val', 10), test: set('test', 10), ood: [], valOod: [], normalization: { mean: [0, 0], std: [1, 1] }, classNames: ['a', 'b'], shape: [1, 1, 2] as [number, number, number] };
    const r = evaluate(model, data, { scores: ['energy', 'mahalanobis', 'rmds'] });
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/^mahalanobis: 40 training rows for 4 feature dimensions \(rank 2\)/);
    expect(r.warnings[1]).toMatch(/^rmds: 40 training rows for 4 feature dimensions \(rank 2\)/);
    expect(maxAbs(r.scores.mahalanobis.id)).toBeLessThan(1e6);
  });
});
