/**
 * KNN, ViM and RMDS against references computed here with plain loops (own Gauss–Jordan inverse,
 * own Jacobi eigen-solver, brute-force neighbours), sharing no code with src/scores or src/util.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import { base64ToBytes, bytesToBase64, quantizeRowsInt8, dequantizeRowsInt8 } from '../../src/scores/codec.js';
import {
  defaultPrincipalDim, fittedScorer, fittedScoreSpec, knn, knnStateFromJson, mahalanobis, parseFittedState, rmds,
  rmdsStateFromJson, rmdsStateToJson, vim, vimStateFromJson, vimStateToJson, type Matrix,
} from '../../src/scores/index.js';
import { Rng } from '../../src/util/rng.js';
import { parseDetectorSpec } from '../../src/run/detector.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

const d = 6, K = 3;

/** Features with class structure, and logits = h·W + b for a random head. */
function makeData(n: number, seed: number, shift = 0) {
  const rng = new Rng(seed);
  const x = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % K;
    for (let j = 0; j < d; j++) x[i * d + j] = (j === labels[i] ? 3 : 0) + (1 + 0.3 * j) * rng.normal() + shift;
  }
  const W = new Float64Array(d * K), b = new Float64Array(K);
  const hr = new Rng(99);
  for (let i = 0; i < W.length; i++) W[i] = hr.normal();
  for (let k = 0; k < K; k++) b[k] = hr.normal();
  const logits = new Float64Array(n * K);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) {
    let s = b[k];
    for (let j = 0; j < d; j++) s += x[i * d + j] * W[j * K + k];
    logits[i * K + k] = s;
  }
  return {
    features: { data: x, rows: n, cols: d } as Matrix, logits: { data: logits, rows: n, cols: K } as Matrix, labels,
    head: { kernel: { data: W, rows: d, cols: K } as Matrix, bias: b },
  };
}

const train = makeData(60, 1);
const test = makeData(25, 2, 0.7);
const row = (m: Matrix, r: number) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));

// ---- independent reference helpers -------------------------------------------------------------

function inverse(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((r, i) => [...r, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const v = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= v;
    for (let r = 0; r < n; r++) if (r !== c) { const f = m[r][c]; for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j]; }
  }
  return m.map((r) => r.slice(n));
}

/** Cyclic Jacobi: eigenvalues and eigenvectors (columns) of a symmetric matrix. */
function jacobiEigen(a0: number[][]): { values: number[]; vectors: number[][] } {
  const n = a0.length;
  const a = a0.map((r) => [...r]);
  const v = a.map((_, i) => a.map((__, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i][j] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) { const akp = a[k][p], akq = a[k][q]; a[k][p] = c * akp - s * akq; a[k][q] = s * akp + c * akq; }
      for (let k = 0; k < n; k++) { const apk = a[p][k], aqk = a[q][k]; a[p][k] = c * apk - s * aqk; a[q][k] = s * apk + c * aqk; }
      for (let k = 0; k < n; k++) { const vkp = v[k][p], vkq = v[k][q]; v[k][p] = c * vkp - s * vkq; v[k][q] = s * vkp + c * vkq; }
    }
  }
  return { values: a.map((r, i) => r[i]), vectors: v };
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const lse = (l: number[]) => { const m = Math.max(...l); return m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0)); };
const mdist = (x: number[], mu: number[], inv: number[][]) => { const y = x.map((v, i) => v - mu[i]); return dot(y, inv.map((r) => dot(r, y))); };

function meanCov(rows: number[][], centreOf: (i: number) => number[]): number[][] {
  const cov = Array.from({ length: d }, () => new Array(d).fill(0));
  rows.forEach((x, i) => { const c = centreOf(i); for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a][b] += (x[a] - c[a]) * (x[b] - c[b]) / rows.length; });
  return cov;
}

// ---- KNN ---------------------------------------------------------------------------------------

describe('knn', () => {
  const unit = (v: number[]) => { const n = Math.hypot(...v); return v.map((x) => x / n); };
  const refKnn = (bank: number[][], q: number[], k: number) => {
    const z = unit(q);
    const dists = bank.map((b) => Math.hypot(...z.map((v, i) => v - b[i]))).sort((a, b) => a - b);
    return -dists[k - 1];
  };

  it('exact when the int8 bank is exact: one-hot and diagonal rows', () => {
    // These rows quantise without error (every non-zero value is the row's maximum).
    const bankRows = [[1, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0], [0, 0, 0, 5, 5, 0], [0, 0, 1, 0, 0, 1], [3, 3, 3, 3, 3, 3], [0, 0, 0, 0, 0, 7]];
    const det = knn({ k: 2 }).fit({ ...train, features: { data: Float64Array.from(bankRows.flat()), rows: 6, cols: d }, labels: [0, 1, 2, 0, 1, 2] });
    const bank = bankRows.map(unit);
    const s = det.score({ logits: test.logits, features: test.features });
    for (let r = 0; r < test.features.rows; r++) expect(s[r]).toBeCloseTo(refKnn(bank, row(test.features, r), 2), 6);
  });

  it('on random features: within the int8 bound of brute force on the float bank, for several k', () => {
    const bank = Array.from({ length: train.features.rows }, (_, r) => unit(row(train.features, r)));
    // Each stored row moves by at most √d·max|z|/254 from quantising, doubled for re-normalising;
    // the k-th neighbour distance is 1-Lipschitz in that movement.
    const tol = (2 * Math.sqrt(d)) / 254;
    for (const k of [1, 5, 17]) {
      const s = knn({ k }).fit(train).score(test);
      let maxErr = 0;
      for (let r = 0; r < test.features.rows; r++) maxErr = Math.max(maxErr, Math.abs(s[r] - refKnn(bank, row(test.features, r), k)));
      expect(maxErr, `k = ${k}`).toBeLessThanOrEqual(tol);
      expect(maxErr).toBeGreaterThan(0); // the bound is exercised, not trivially met by an exact bank
    }
  });

  it('the bank: a seeded subsample of at most bankSize rows, stored as int8', () => {
    const a = knn({ k: 3, bankSize: 20, seed: 1 }).fit(train).state!;
    expect(a.bank.rows).toBe(20);
    expect(a.trainCount).toBe(60);
    expect(knn({ k: 3, bankSize: 20, seed: 1 }).fit(train).state).toEqual(a);
    expect(knn({ k: 3, bankSize: 20, seed: 2 }).fit(train).state!.bank.q).not.toBe(a.bank.q);
    expect(base64ToBytes(a.bank.q, 'q').length).toBe(20 * d);
    // Every stored row is one of the training rows (normalised): nearest-row distance ≈ 0.
    const s = knn({ k: 1, bankSize: 20, seed: 1 }).fit(train).score(train);
    expect(s.filter((v) => v > -0.02).length).toBeGreaterThanOrEqual(20);
  });

  it('refuses k larger than the training set, and a bad stored bank', () => {
    expect(() => knn({ k: 61 }).fit(train)).toThrow(/needs at least 61/);
    expect(() => knn({ k: 0 })).toThrow(AresError);
    const st = knn({ k: 3 }).fit(train).state!;
    expect(() => knnStateFromJson({ ...st, k: 1000 }, 'x.json')).toThrow(/x\.json.*k = 1000/);
    expect(() => knnStateFromJson({ ...st, bank: { ...st.bank, q: st.bank.q.slice(4) } }, 'x.json')).toThrow(/x\.json/);
  });
});

describe('codec', () => {
  it('base64 agrees with Node\'s Buffer both ways, every padding length', () => {
    const rng = new Rng(5);
    for (const n of [0, 1, 2, 3, 4, 5, 100, 1001]) {
      const bytes = Uint8Array.from({ length: n }, () => rng.int(256));
      const b64 = Buffer.from(bytes).toString('base64');
      expect(bytesToBase64(bytes)).toBe(b64);
      expect(Array.from(base64ToBytes(b64, 't'))).toEqual(Array.from(bytes));
    }
    expect(() => base64ToBytes('ab$d', 't')).toThrow(/invalid base64/);
  });
  it('int8 rows: error at most max|row|/254 per value', () => {
    const v = [0.3, -0.7, 0.01, 0.5, -0.2, 0.69, 0, 0, 0, 0, 0, 0];
    const back = dequantizeRowsInt8(quantizeRowsInt8(v, 2, 6), 'q');
    v.forEach((x, i) => expect(Math.abs(back.data[i] - x)).toBeLessThanOrEqual((i < 6 ? 0.7 : 0) / 254 + 1e-7));
  });
});

// ---- ViM ---------------------------------------------------------------------------------------

/** ViM exactly as the paper's code computes it, with this file's own pinv, eigen-solver and loops. */
function refVim(D: number, origin: 'head' | 'nobias' | 'mean') {
  const X = Array.from({ length: train.features.rows }, (_, r) => row(train.features, r));
  const W = Array.from({ length: d }, (_, i) => Array.from({ length: K }, (_, k) => train.head.kernel.data[i * K + k]));
  const b = Array.from(train.head.bias);
  let u: number[];
  if (origin === 'head') {
    // W (d×K) has full column rank: pinv(Wᵀ) = W (WᵀW)⁻¹, u = −W (WᵀW)⁻¹ b.
    const WtW = Array.from({ length: K }, (_, a) => Array.from({ length: K }, (_, c) => W.reduce((s, r) => s + r[a] * r[c], 0)));
    const t = inverse(WtW).map((r) => dot(r, b));
    u = W.map((r) => -dot(r, t));
  } else if (origin === 'nobias') u = new Array(d).fill(0);
  else u = Array.from({ length: d }, (_, j) => X.reduce((s, x) => s + x[j], 0) / X.length);
  const { values, vectors } = jacobiEigen(meanCov(X, () => u));
  const order = values.map((v, i) => [v, i]).sort((p, q) => q[0] - p[0]).map((p) => p[1]);
  const principal = order.slice(0, D).map((i) => vectors.map((r) => r[i]));
  const residual = (x: number[]) => {
    const y = x.map((v, i) => v - u[i]);
    const yy = dot(y, y);
    return Math.sqrt(Math.max(0, yy - principal.reduce((s, p) => s + dot(p, y) ** 2, 0)));
  };
  const logitsOf = (x: number[]) => Array.from({ length: K }, (_, k) => (origin === 'nobias' ? 0 : b[k]) + x.reduce((s, v, j) => s + v * W[j][k], 0));
  const trainLogits = X.map((x, r) => (origin === 'nobias' ? logitsOf(x) : row(train.logits, r)));
  const alpha = trainLogits.reduce((s, l) => s + Math.max(...l), 0) / X.reduce((s, x) => s + residual(x), 0);
  return { u, alpha, score: (x: number[], l: number[]) => lse(l) - alpha * residual(x), residual };
}

describe('vim', () => {
  it('defaults D to the paper\'s settings (1000 for 2048-d, 512 for 768-d) and half below', () => {
    expect([2048, 768, 128, 6, 7].map(defaultPrincipalDim)).toEqual([1000, 512, 64, 3, 4]);
  });

  for (const D of [2, 3, 5]) {
    it(`matches the reference (origin −pinv(Wᵀ)b, D = ${D})`, () => {
      const ref = refVim(D, 'head');
      const det = vim({ principalDim: D }).fit(train);
      const st = det.state!;
      expect(st.origin).toBe('head');
      st.u.forEach((v, i) => expect(v).toBeCloseTo(ref.u[i], 9));
      expect(st.alpha).toBeCloseTo(ref.alpha, 5);
      const s = det.score(test);
      for (let r = 0; r < test.features.rows; r++) expect(s[r]).toBeCloseTo(ref.score(row(test.features, r), row(test.logits, r)), 4);
    });
  }

  it('u solves Wᵀu + b = 0 (the logits of the origin are all zero)', () => {
    const { u } = vim().fit(train).state!;
    for (let k = 0; k < K; k++) {
      let s = train.head.bias[k];
      for (let j = 0; j < d; j++) s += u[j] * train.head.kernel.data[j * K + k];
      expect(Math.abs(s)).toBeLessThan(1e-9);
    }
  });

  it('no bias → origin 0; no head → the mean ID feature', () => {
    const noBias = makeData(60, 1);
    for (let i = 0; i < noBias.logits.rows; i++) for (let k = 0; k < K; k++) noBias.logits.data[i * K + k] -= train.head.bias[k];
    const ref0 = refVim(3, 'nobias');
    const a = vim({ principalDim: 3 }).fit({ ...noBias, head: { kernel: train.head.kernel, bias: null } });
    expect(Array.from(a.state!.u)).toEqual(new Array(d).fill(0));
    expect(a.state!.alpha).toBeCloseTo(ref0.alpha, 5);
    const refM = refVim(3, 'mean');
    const m = vim({ principalDim: 3 }).fit({ features: train.features, logits: train.logits, labels: train.labels });
    expect(m.state!.origin).toBe('mean');
    m.state!.u.forEach((v, i) => expect(v).toBeCloseTo(refM.u[i], 12));
    expect(m.state!.alpha).toBeCloseTo(refM.alpha, 5);
  });

  it('the score ranks like −p₀, the virtual logit\'s softmax probability of the paper', () => {
    const det = vim({ principalDim: 3 }).fit(train);
    const ref = refVim(3, 'head');
    const s = det.score(test);
    for (let r = 0; r < test.features.rows; r++) {
      const l = row(test.logits, r);
      const l0 = ref.alpha * ref.residual(row(test.features, r));
      const p0 = Math.exp(l0) / (Math.exp(l0) + l.reduce((a, v) => a + Math.exp(v), 0));
      expect(1 / (1 + Math.exp(s[r]))).toBeCloseTo(p0, 4);
    }
  });

  it('state JSON round-trip is exact; bad input is refused', () => {
    const det = vim().fit(train);
    const back = vimStateFromJson(JSON.parse(JSON.stringify(vimStateToJson(det.state!))));
    expect(vim().restore(back).score(test)).toEqual(det.score(test));
    expect(() => vim({ principalDim: 6 }).fit(train)).toThrow(/principalDim must be an integer in \[1, 5\]/);
    expect(() => vim().fit({ ...train, head: { kernel: train.head.kernel, bias: new Float64Array(2) } })).toThrow(/bias has 2 values/);
    expect(() => vimStateFromJson({ ...vimStateToJson(det.state!), u: 'AAAAAAAAAAA=' }, 'a.json')).toThrow(/a\.json.*u: 8 bytes, expected 6 values/);
  });
});

// ---- RMDS --------------------------------------------------------------------------------------

describe('rmds', () => {
  function refRmds() {
    const X = Array.from({ length: train.features.rows }, (_, r) => row(train.features, r));
    const mu = Array.from({ length: K }, (_, c) => {
      const rows = X.filter((_, i) => train.labels[i] === c);
      return Array.from({ length: d }, (_, j) => rows.reduce((s, x) => s + x[j], 0) / rows.length);
    });
    const mu0 = Array.from({ length: d }, (_, j) => X.reduce((s, x) => s + x[j], 0) / X.length);
    const inv = inverse(meanCov(X, (i) => mu[train.labels[i]]));
    const inv0 = inverse(meanCov(X, () => mu0));
    return (x: number[]) => {
      const rmd = mu.map((m) => mdist(x, m, inv) - mdist(x, mu0, inv0));
      return -Math.min(...rmd);
    };
  }

  it('matches −min_k (MD_k − MD_0) computed with plain loops', () => {
    const ref = refRmds();
    const s = rmds().fit(train).score(test);
    for (let r = 0; r < test.features.rows; r++) {
      const want = ref(row(test.features, r));
      expect(Math.abs(s[r] - want)).toBeLessThan(1e-8 * Math.max(1, Math.abs(want)));
    }
  });

  it('differs from Mahalanobis exactly by the background term', () => {
    const r = rmds().fit(train).score(test);
    const m = mahalanobis().fit(train).score(test);
    const X = Array.from({ length: train.features.rows }, (_, i) => row(train.features, i));
    const mu0 = Array.from({ length: d }, (_, j) => X.reduce((s, x) => s + x[j], 0) / X.length);
    const inv0 = inverse(meanCov(X, () => mu0));
    for (let i = 0; i < test.features.rows; i++) expect(r[i] - m[i]).toBeCloseTo(mdist(row(test.features, i), mu0, inv0), 7);
  });

  it('drops constant features (dead units) in both Gaussians', () => {
    const x = Float64Array.from(train.features.data);
    for (let i = 0; i < train.features.rows; i++) x[i * d + 4] = 0;
    const det = rmds().fit({ ...train, features: { data: x, rows: train.features.rows, cols: d } });
    expect(Array.from(det.state!.background.kept)).toEqual([0, 1, 2, 3, 5]);
    expect(det.score(test).every(Number.isFinite)).toBe(true);
  });

  it('state JSON is compact (base64) and round-trips exactly; a mismatched background is refused', () => {
    const det = rmds().fit(train);
    const json = JSON.parse(JSON.stringify(rmdsStateToJson(det.state!)));
    expect(typeof (json.classes as Record<string, unknown>).chol).toBe('string');
    expect(rmds().restore(rmdsStateFromJson(json)).score(test)).toEqual(det.score(test));
    const bad = { ...json, background: { ...json.background, kept: [0, 1, 2, 3, 4] } };
    expect(() => rmdsStateFromJson(bad, 'r.json')).toThrow(AresError);
  });
});

describe('fitted specs (detector.json form)', () => {
  it.each(['mahalanobis', 'knn', 'vim', 'rmds'] as const)('%s: the spec scores exactly as the fitted detector, tensors or not', (name) => {
    const det = { mahalanobis: () => mahalanobis(), knn: () => knn({ k: 5 }), vim: () => vim(), rmds: () => rmds() }[name]().fit(train);
    const spec = JSON.parse(JSON.stringify(fittedScoreSpec(det)));
    expect(spec.name).toBe(name);
    parseFittedState(name, spec.state, 'd.json');
    const score = fittedScorer(spec, 'd.json');
    expect(score(test)).toEqual(det.score(test));
    const f = tf.tensor2d(Float32Array.from(test.features.data), [test.features.rows, d]);
    const l = tf.tensor2d(Float32Array.from(test.logits.data), [test.logits.rows, K]);
    const viaTensors = score({ logits: l, features: f });
    Array.from(viaTensors).forEach((v, i) => expect(v).toBeCloseTo(det.score(test)[i], 4));
    tf.dispose([f, l]);
    expect(() => score({ logits: test.logits })).toThrow(/penultimate features/);
  });
  it('detector.json: a fitted score is checked when read, naming the file', () => {
    const base = { version: 1, classNames: ['a', 'b', 'c'], inputShape: [2, 3, 1], normalization: { mean: [0], std: [1] }, threshold: { gamma: -1, tpr: 0.95, on: 'id-validation' } };
    const spec = JSON.parse(JSON.stringify(fittedScoreSpec(knn({ k: 4 }).fit(train))));
    expect(parseDetectorSpec({ ...base, score: spec }, 'det.json').score).toEqual(spec);
    const broken = { ...spec, state: { ...spec.state, bank: { ...spec.state.bank, scale: 'AAAA' } } };
    expect(() => parseDetectorSpec({ ...base, score: broken }, 'det.json')).toThrow(/det\.json: invalid detector description: score\.state: knn state: .*scale/);
    expect(() => parseDetectorSpec({ ...base, score: { name: 'vim' } }, 'det.json')).toThrow(/score\.state must be the fitted vim state/);
    expect(() => parseDetectorSpec({ ...base, score: { name: 'energy', weights: null }, energyWeights: [1, 2] }, 'det.json')).toThrow(/energyWeights has 2 values, expected 3/);
  });

  it('refuses to store an unfitted detector', () => {
    expect(() => fittedScoreSpec(knn())).toThrow(/must be fitted/);
  });
});
