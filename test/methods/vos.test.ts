import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { AresError } from '../../src/errors.js';
import {
  createClassQueues, createVosParams, drawCandidates, enqueueFeatures, lowestLikelihoodSamples, queueGaussians,
  queuesFull, sampleVirtualOutliers, VOS_DEFAULTS, vosLossActive, vosUncertaintyLoss,
} from '../../src/methods/vos.js';
import { classGaussians, cholesky } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

const rows = (r: number[][]) => ({ data: Float32Array.from(r.flat()), rows: r.length, cols: r[0].length });

describe('class queues', () => {
  it('keep the last `capacity` features of each class (FIFO) and report when all are full', () => {
    const q = createClassQueues(2, 2, 3);
    enqueueFeatures(q, rows([[1, 1], [2, 2], [9, 9]]), [0, 0, 1]);
    expect(queuesFull(q)).toBe(false);
    enqueueFeatures(q, rows([[3, 3], [4, 4], [8, 8], [7, 7]]), [0, 0, 1, 1]);
    expect(Array.from(q.counts)).toEqual([3, 3]);
    const held = (c: number) => Array.from(q.data.subarray(c * 6, c * 6 + 6)).filter((_, i) => i % 2 === 0).sort();
    expect(held(0)).toEqual([2, 3, 4]); // 1 was the oldest: dropped
    expect(held(1)).toEqual([7, 8, 9]);
    expect(queuesFull(q)).toBe(true);
    expect(vosLossActive(1, 2, q)).toBe(false);
    expect(vosLossActive(2, 2, q)).toBe(true);
    expect(() => enqueueFeatures(q, rows([[1, 1]]), [2])).toThrow(AresError);
    expect(() => enqueueFeatures(q, rows([[1, 1, 1]]), [0])).toThrow(/2-d features, got 3-d/);
    expect(VOS_DEFAULTS).toMatchObject({ queueSize: 1000, candidates: 10000, select: 1, covarianceJitter: 1e-4, lossWeight: 0.1 });
  });

  it('running sums match a recomputation from the queued features after many wrap-arounds', () => {
    const rng = new Rng(4);
    const K = 3, d = 5, cap = 7;
    const q = createClassQueues(K, d, cap);
    for (let step = 0; step < 40; step++) {
      const b = 1 + (step % 6);
      const feats = Array.from({ length: b }, () => Array.from({ length: d }, () => 3 + 2 * rng.normal()));
      enqueueFeatures(q, rows(feats), Array.from({ length: b }, () => rng.int(K)));
    }
    expect(queuesFull(q)).toBe(true);
    const labels = Int32Array.from({ length: K * cap }, (_, i) => Math.floor(i / cap));
    const ref = classGaussians({ data: q.data, rows: K * cap, cols: d }, labels, K);
    const g = queueGaussians(q, 0);
    g.means.forEach((v, i) => expect(v).toBeCloseTo(ref.means[i], 10));
    g.covariance.forEach((v, i) => expect(v).toBeCloseTo(ref.covariance[i], 10));

    // A checkpoint holds data/counts/next only; restoring them into a fresh queue rebuilds the sums.
    const restored = createClassQueues(K, d, cap);
    enqueueFeatures(restored, rows([[9, 9, 9, 9, 9]]), [0]); // stale sums that must not survive
    Object.assign(restored, { data: Float32Array.from(q.data), counts: Int32Array.from(q.counts), next: Int32Array.from(q.next) });
    const more = rows([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]);
    enqueueFeatures(q, more, [1, 2]);
    enqueueFeatures(restored, more, [1, 2]);
    const a = queueGaussians(q), b = queueGaussians(restored);
    b.covariance.forEach((v, i) => expect(v).toBeCloseTo(a.covariance[i], 10));
    b.means.forEach((v, i) => expect(v).toBeCloseTo(a.means[i], 10));
  });

  it('fit class means and the shared covariance of class-centred features (/N) + 1e-4·I', () => {
    const q = createClassQueues(2, 2, 2);
    expect(() => queueGaussians(q)).toThrow(/not full/);
    enqueueFeatures(q, rows([[0, 0], [2, 2], [10, 0], [10, 4]]), [0, 0, 1, 1]);
    const g = queueGaussians(q);
    expect(Array.from(g.means)).toEqual([1, 1, 10, 2]);
    // centred: (−1,−1), (1,1), (0,−2), (0,2) -> Σ = [[2, 2], [2, 10]] / 4
    expect(Array.from(g.covariance)).toEqual([0.5 + 1e-4, 0.5, 0.5, 2.5 + 1e-4]);
  });
});

describe('lowest-likelihood sampling', () => {
  const mean = [1, -2, 0.5];
  const sigma = [[2, 0.6, 0.2], [0.6, 1, -0.3], [0.2, -0.3, 0.5]];
  const L = cholesky(Float64Array.from(sigma.flat()), 3)!;
  // Independent of the code under test: log N(x; μ, Σ) through the explicit 3×3 inverse and determinant.
  const logPdf = (x: ArrayLike<number>) => {
    const [[a, b, c], [d, e, f], [g, h, i]] = sigma;
    const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    const inv = [[e * i - f * h, c * h - b * i, b * f - c * e], [f * g - d * i, a * i - c * g, c * d - a * f], [d * h - e * g, b * g - a * h, a * e - b * d]]
      .map((r) => r.map((v) => v / det));
    const v = [0, 1, 2].map((k) => x[k] - mean[k]);
    const quad = v.reduce((s, vk, k) => s + vk * v.reduce((t, vj, j) => t + inv[k][j] * vj, 0), 0);
    return -0.5 * (3 * Math.log(2 * Math.PI) + Math.log(det) + quad);
  };

  it('candidates come from N(μ, Σ) and their log-likelihoods are right', () => {
    const { samples, logLikelihood } = drawCandidates(mean, L, 20000, new Rng(1));
    for (let s = 0; s < 20; s++) expect(logLikelihood[s]).toBeCloseTo(logPdf(samples.subarray(3 * s, 3 * s + 3)), 9);
    const n = 20000;
    const mu = [0, 1, 2].map((k) => samples.filter((_, i) => i % 3 === k).reduce((a, b) => a + b, 0) / n);
    mu.forEach((v, k) => expect(Math.abs(v - mean[k])).toBeLessThan(0.05));
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
      let cov = 0;
      for (let s = 0; s < n; s++) cov += (samples[3 * s + a] - mu[a]) * (samples[3 * s + b] - mu[b]);
      expect(Math.abs(cov / n - sigma[a][b])).toBeLessThan(0.08);
    }
  });

  it('keeps lower-likelihood candidates than every one it rejects, deterministically by seed', () => {
    const n = 3000, select = 4;
    const all = drawCandidates(mean, L, n, new Rng(42));
    const kept = lowestLikelihoodSamples(mean, L, n, select, new Rng(42), 'explicit');
    expect(Array.from(kept)).toEqual(Array.from(lowestLikelihoodSamples(mean, L, n, select, new Rng(42), 'explicit')));
    expect(Array.from(kept)).not.toEqual(Array.from(lowestLikelihoodSamples(mean, L, n, select, new Rng(43), 'explicit')));
    const keptLik = [0, 1, 2, 3].map((k) => logPdf(kept.subarray(3 * k, 3 * k + 3)));
    // Each kept sample is one of the candidates (same stream of draws) ...
    const order = Array.from(all.logLikelihood.keys()).sort((a, b) => all.logLikelihood[a] - all.logLikelihood[b]);
    order.slice(0, select).forEach((idx, k) => {
      for (let j = 0; j < 3; j++) expect(kept[3 * k + j]).toBeCloseTo(all.samples[3 * idx + j], 5);
    });
    // ... and, by the independent density, less likely than every rejected one.
    const rejectedMin = Math.min(...order.slice(select).map((idx) => logPdf(all.samples.subarray(3 * idx, 3 * idx + 3))));
    expect(Math.max(...keptLik)).toBeLessThan(rejectedMin);
    for (let k = 1; k < select; k++) expect(keptLik[k]).toBeGreaterThanOrEqual(keptLik[k - 1]);
  });

  it('radial sampling keeps samples with the same law as explicit sampling', () => {
    // Whitened squared radius ρ² of the kept sample, and its direction, over many repetitions.
    const reps = 3000, n = 30;
    const whiten = (x: Float32Array) => {
      const z: number[] = [];
      for (let i = 0; i < 3; i++) {
        let s = x[i] - mean[i];
        for (let k = 0; k < i; k++) s -= L[i * 3 + k] * z[k];
        z.push(s / L[i * 3 + i]);
      }
      return z;
    };
    const stats = (sampling: 'radial' | 'explicit') => {
      const rng = new Rng(sampling === 'radial' ? 11 : 12);
      const r2: number[] = [];
      const dir = [0, 0, 0];
      for (let r = 0; r < reps; r++) {
        const z = whiten(lowestLikelihoodSamples(mean, L, n, 1, rng, sampling));
        const sq = z.reduce((a, b) => a + b * b, 0);
        r2.push(sq);
        z.forEach((v, k) => { dir[k] += v / Math.sqrt(sq) / reps; });
      }
      r2.sort((a, b) => a - b);
      const m = r2.reduce((a, b) => a + b, 0) / reps;
      const sd = Math.sqrt(r2.reduce((a, b) => a + (b - m) ** 2, 0) / (reps - 1));
      return { m, sd, q10: r2[Math.floor(reps * 0.1)], q90: r2[Math.floor(reps * 0.9)], dir };
    };
    const a = stats('radial'), b = stats('explicit');
    // E[max of 30 χ²_3] ≈ 9.9; the two means agree within 4 standard errors of their difference.
    expect(a.m).toBeGreaterThan(8.5);
    expect(a.m).toBeLessThan(11.5);
    expect(Math.abs(a.m - b.m)).toBeLessThan(4 * Math.sqrt((a.sd ** 2 + b.sd ** 2) / reps));
    expect(Math.abs(a.q10 - b.q10)).toBeLessThan(0.5);
    expect(Math.abs(a.q90 - b.q90)).toBeLessThan(0.8);
    for (const v of [...a.dir, ...b.dir]) expect(Math.abs(v)).toBeLessThan(0.05);
  });

  it('virtual outliers per class lie outside that class\'s queued features', () => {
    const K = 3, d = 4, cap = 60;
    const rng = new Rng(5);
    const q = createClassQueues(K, d, cap);
    const feats: number[][] = [];
    const labels: number[] = [];
    for (let i = 0; i < K * cap; i++) {
      labels.push(i % K);
      feats.push(Array.from({ length: d }, (_, j) => (j === i % K ? 6 : 0) + rng.normal()));
    }
    enqueueFeatures(q, rows(feats), labels);
    expect(() => sampleVirtualOutliers(createClassQueues(K, d, cap), new Rng(1))).toThrow(/not full/);
    const v = sampleVirtualOutliers(q, new Rng(9), { candidates: 2000, select: 2 });
    expect([v.rows, v.cols]).toEqual([K * 2, d]);
    expect(Array.from(sampleVirtualOutliers(q, new Rng(9), { candidates: 2000, select: 2 }).data)).toEqual(Array.from(v.data));
    const g = queueGaussians(q);
    const Lq = cholesky(g.covariance, d)!;
    const whitenedSq = (x: ArrayLike<number>, c: number) => {
      const z: number[] = [];
      for (let i = 0; i < d; i++) {
        let s = x[i] - g.means[c * d + i];
        for (let k = 0; k < i; k++) s -= Lq[i * d + k] * z[k];
        z.push(s / Lq[i * d + i]);
      }
      return z.reduce((a, b) => a + b * b, 0);
    };
    for (let c = 0; c < K; c++) {
      const queued = feats.filter((_, i) => labels[i] === c).map((f) => whitenedSq(f, c));
      for (let k = 0; k < 2; k++) {
        expect(whitenedSq(v.data.subarray((c * 2 + k) * d, (c * 2 + k + 1) * d), c)).toBeGreaterThan(Math.max(...queued));
      }
    }
  });
});

describe('VOS uncertainty loss', () => {
  const setParams = (p: ReturnType<typeof createVosParams>) => {
    p.energyWeights.assign(tf.tensor1d([1, 0.5]));
    p.lrKernel.assign(tf.tensor2d([[0.3, -0.2]]));
    p.lrBias.assign(tf.tensor1d([0.1, 0.05]));
  };

  it('is the logistic-regression cross-entropy on −E (ID label 1, outliers 0), by hand', () => {
    const p = createVosParams(2, new Rng(0));
    setParams(p);
    const id = [[1, 2], [0, 0]], out = [[-1, 0]];
    const negE = (f: number[]) => Math.log(Math.exp(f[0]) + 0.5 * Math.exp(f[1]));
    const nll = (e: number, label: number) => {
      const z = [0.3 * e + 0.1, -0.2 * e + 0.05];
      return Math.log(Math.exp(z[0]) + Math.exp(z[1])) - z[label];
    };
    const expected = (nll(negE(id[0]), 1) + nll(negE(id[1]), 1) + nll(negE(out[0]), 0)) / 3;
    const loss = vosUncertaintyLoss(tf.tensor2d(id), tf.tensor2d(out), p);
    expect(loss.rank).toBe(0);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
  });

  it('sends finite, non-zero gradients to the logits, the energy weights and the regression', () => {
    const p = createVosParams(2, new Rng(0));
    setParams(p);
    const id = tf.tensor2d([[1, 2], [0, 0]]), out = tf.tensor2d([[-1, 0]]);
    const { grads } = tf.variableGrads(() => vosUncertaintyLoss(id, out, p), p.variables);
    for (const v of p.variables) {
      const g = Array.from(grads[v.name].dataSync());
      expect(g.every(Number.isFinite)).toBe(true);
      expect(g.some((x) => x !== 0)).toBe(true);
    }
    const [gId, gOut] = tf.grads((a: tf.Tensor, b: tf.Tensor) => vosUncertaintyLoss(a as tf.Tensor2D, b as tf.Tensor2D, p))([id, out]);
    expect(Array.from(gId.dataSync()).some((x) => x !== 0)).toBe(true);
    expect(Array.from(gOut.dataSync()).some((x) => x !== 0)).toBe(true);
  });

  it('can be minimised: training its parameters separates peaked ID logits from flat outlier logits', () => {
    const p = createVosParams(3, new Rng(1));
    const w = Array.from(p.energyWeights.dataSync());
    expect(w.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Array.from(createVosParams(3, new Rng(1)).energyWeights.dataSync())).toEqual(w);
    const id = tf.tensor2d([[8, 0, 0], [0, 7, 1], [0, 0, 9]]), out = tf.tensor2d([[0.5, 0.2, 0.1], [0, 0.3, 0.2]]);
    const opt = tf.train.sgd(0.1);
    const first = vosUncertaintyLoss(id, out, p).dataSync()[0];
    for (let s = 0; s < 300; s++) opt.minimize(() => vosUncertaintyLoss(id, out, p), false, p.variables);
    const last = vosUncertaintyLoss(id, out, p).dataSync()[0];
    expect(last).toBeLessThan(0.5 * first);
    expect(last).toBeLessThan(0.2);
  });
});
