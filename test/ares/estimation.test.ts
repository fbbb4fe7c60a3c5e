import { describe, expect, it } from 'vitest';
import { FeaturePool } from '../../src/ares/expansion.js';
import {
  cholesky, estimateOutliers, fitGaussian, leastLikelyPoolInstances, mahalanobis2, randomPoolOutliers, sampleVirtualOutliers,
} from '../../src/ares/estimation.js';
import { Rng } from '../../src/util/rng.js';

// A known 3-D Gaussian: Σ = A Aᵀ.
const D = 3;
const MU = Float64Array.from([1, -2, 0.5]);
const A = [[1.5, 0, 0], [0.6, 0.8, 0], [-0.4, 0.3, 0.5]];
const SIGMA = Float64Array.from({ length: 9 }, (_, k) => {
  const i = Math.floor(k / 3), j = k % 3;
  return A[i].reduce((s, v, t) => s + v * A[j][t], 0);
});

function drawKnown(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * D);
  for (let r = 0; r < n; r++) {
    const z = [rng.normal(), rng.normal(), rng.normal()];
    for (let i = 0; i < D; i++) out[r * D + i] = MU[i] + A[i].reduce((s, v, t) => s + v * z[t], 0);
  }
  return out;
}

/** log N(x; μ, Σ) by Gaussian elimination, independent of the Cholesky path. */
function logPdf(x: ArrayLike<number>, mu: Float64Array, sigma: Float64Array): number {
  const d = mu.length;
  const m = Array.from({ length: d }, (_, i) => [...Array.from(sigma.subarray(i * d, (i + 1) * d)), x[i] - mu[i]]);
  let logDet = 0;
  for (let c = 0; c < d; c++) {
    const piv = m[c][c];
    logDet += Math.log(Math.abs(piv));
    for (let r = c + 1; r < d; r++) {
      const f = m[r][c] / piv;
      for (let k = c; k <= d; k++) m[r][k] -= f * m[c][k];
    }
  }
  const y = new Array(d).fill(0); // back-substitute Σ y = x − μ
  for (let r = d - 1; r >= 0; r--) {
    let s = m[r][d];
    for (let k = r + 1; k < d; k++) s -= m[r][k] * y[k];
    y[r] = s / m[r][r];
  }
  const quad = y.reduce((s, v, i) => s + v * (x[i] - mu[i]), 0);
  return -0.5 * quad - 0.5 * logDet - 0.5 * d * Math.log(2 * Math.PI);
}

describe('Estimation stage', () => {
  it('cholesky factors a positive-definite matrix and refuses an indefinite one', () => {
    const l = cholesky(SIGMA, 3)!;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += l[i * 3 + k] * l[j * 3 + k];
      expect(s).toBeCloseTo(SIGMA[i * 3 + j], 12);
      if (j > i) expect(l[i * 3 + j]).toBe(0);
    }
    expect(cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toBeNull();
  });

  it('recovers the mean and covariance of a known Gaussian from the pool', () => {
    const pool = new FeaturePool(D, 20000);
    pool.add(drawKnown(20000, new Rng(1)));
    const { mean, cov } = pool.moments();
    MU.forEach((v, i) => expect(mean[i]).toBeCloseTo(v, 1));
    SIGMA.forEach((v, i) => expect(Math.abs(cov[i] - v)).toBeLessThan(0.05));
    const g = fitGaussian(mean, cov);
    expect(g.shrinkage).toBe(0);
  });

  it('samples from the fitted Gaussian: keeping every candidate reproduces Σ + ridge', () => {
    const g = fitGaussian(MU, SIGMA, 1e-4);
    const n = 20000;
    const out = sampleVirtualOutliers(g, n, new Rng(2), n);
    const mean = [0, 1, 2].map((i) => { let s = 0; for (let r = 0; r < n; r++) s += out.v[r * D + i]; return s / n; });
    mean.forEach((v, i) => expect(v).toBeCloseTo(MU[i], 1));
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += (out.v[r * D + i] - mean[i]) * (out.v[r * D + j] - mean[j]);
      expect(Math.abs(s / n - SIGMA[i * D + j] - (i === j ? 1e-4 : 0))).toBeLessThan(0.06);
    }
  });

  it('keeps the B least likely candidates: every kept one is less likely than every rejected one', () => {
    const g = fitGaussian(MU, SIGMA);
    const out = sampleVirtualOutliers(g, 16, new Rng(3), 1000);
    expect(out.count).toBe(16);
    expect(out.candidateLogLik.length).toBe(1000);
    const sorted = Array.from(out.candidateLogLik).sort((a, b) => a - b);
    // The kept set is exactly the 16 smallest, ascending, and ε is the 16th smallest.
    expect(Array.from(out.logLik)).toEqual(sorted.slice(0, 16));
    expect(out.epsilon).toBe(sorted[15]);
    expect(Math.max(...out.logLik)).toBeLessThan(sorted[16]);
    // The reported log-likelihoods are those of the returned vectors under N(μ, Σ + ridge).
    const reg = SIGMA.map((v, k) => v + (k % 4 === 0 ? 1e-4 : 0));
    for (let k = 0; k < 16; k++) {
      expect(logPdf(out.v.subarray(k * D, (k + 1) * D), MU, reg)).toBeCloseTo(out.logLik[k], 3);
    }
  });

  it('the radius shortcut has the distribution of brute force (draw M full vectors, keep the B farthest)', () => {
    // Compare the mean squared Mahalanobis radius of the kept samples over repeated draws.
    const d = 8, m = 400, b = 10, trials = 300;
    const g = fitGaussian(new Float64Array(d), Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? 1 : 0)), 0);
    const rngA = new Rng(4), rngB = new Rng(5);
    let fast = 0, brute = 0;
    for (let t = 0; t < trials; t++) {
      const out = sampleVirtualOutliers(g, b, rngA, m);
      for (let k = 0; k < b; k++) fast += out.v.subarray(k * d, (k + 1) * d).reduce((s, v) => s + v * v, 0);
      const r2 = Array.from({ length: m }, () => { let s = 0; for (let i = 0; i < d; i++) s += rngB.normal() ** 2; return s; });
      brute += r2.sort((x, y) => y - x).slice(0, b).reduce((s, v) => s + v, 0);
    }
    fast /= trials * b; brute /= trials * b;
    // E ≈ 20.6 for the top 10 of 400 χ²_8 draws; the standard error of each mean here is ≈ 0.1.
    expect(Math.abs(fast - brute)).toBeLessThan(0.4);
    expect(fast).toBeGreaterThan(15); // far in the tail (E χ²_8 = 8)
  });

  it('is deterministic by the rng it is given', () => {
    const pool = new FeaturePool(D, 500);
    pool.add(drawKnown(500, new Rng(7)));
    const a = estimateOutliers(pool, 8, new Rng(9), { candidates: 2000 });
    const b = estimateOutliers(pool, 8, new Rng(9), { candidates: 2000 });
    const c = estimateOutliers(pool, 8, new Rng(10), { candidates: 2000 });
    expect(Array.from(a.v)).toEqual(Array.from(b.v));
    expect(Array.from(a.v)).not.toEqual(Array.from(c.v));
  });

  it('falls back to shrinkage toward the diagonal when Σ is not positive definite, and reports it', () => {
    // Correlation 1.5 > 1: indefinite; the ridge alone does not fix it.
    const cov = Float64Array.from([1, 1.5, 1.5, 1]);
    const g = fitGaussian(new Float64Array(2), cov, 1e-4);
    expect(g.shrinkage).toBeGreaterThan(0);
    const out = sampleVirtualOutliers(g, 4, new Rng(1), 100);
    expect(out.v.every(Number.isFinite)).toBe(true);
    expect(out.shrinkage).toBe(g.shrinkage);
    // A rank-deficient pool (fewer vectors than dimensions) factorises thanks to the ridge.
    const pool = new FeaturePool(6, 100);
    pool.add(Float32Array.from({ length: 12 }, (_, i) => i % 5));
    expect(estimateOutliers(pool, 3, new Rng(1), { candidates: 50 }).v.every(Number.isFinite)).toBe(true);
    expect(() => fitGaussian(new Float64Array(2), Float64Array.from([NaN, 0, 0, 1]))).toThrow(/not positive definite/);
  });

  it('checks its inputs', () => {
    const g = fitGaussian(MU, SIGMA);
    expect(() => sampleVirtualOutliers(g, 20, new Rng(1), 10)).toThrow(/at least as many candidates/);
    expect(() => estimateOutliers(new FeaturePool(3, 10), 2, new Rng(1))).toThrow(/at least 2 pooled/);
    expect(() => fitGaussian(MU, new Float64Array(4))).toThrow(/expected 3×3/);
  });

  it('--no-estimation draws distinct random pool vectors instead', () => {
    const pool = new FeaturePool(2, 50);
    pool.add(Float32Array.from({ length: 100 }, (_, i) => Math.floor(i / 2))); // row r = [r, r]
    const v = randomPoolOutliers(pool, 20, new Rng(3));
    const rows = Array.from({ length: 20 }, (_, k) => v[2 * k]);
    rows.forEach((r, k) => expect(v[2 * k + 1]).toBe(r));
    expect(new Set(rows).size).toBe(20);
    expect(rows.every((r) => Number.isInteger(r) && r >= 0 && r < 50)).toBe(true);
  });

  it('scale τ draws from N(μ, τ²Σ): radii grow by τ, and likelihoods are reported under N(μ, Σ)', () => {
    const g = fitGaussian(MU, SIGMA);
    const base = sampleVirtualOutliers(g, 16, new Rng(4), 1000, 1);
    const wide = sampleVirtualOutliers(g, 16, new Rng(4), 1000, 2);
    for (let k = 0; k < 16; k++) {
      expect(wide.radius[k]).toBeCloseTo(2 * base.radius[k], 9);
      // The vector really lies at that radius: an independent solve of Σ y = x − μ.
      const x = wide.v.subarray(k * D, (k + 1) * D);
      const reg = SIGMA.map((v, i) => v + (i % 4 === 0 ? 1e-4 : 0));
      expect(logPdf(x, MU, reg)).toBeCloseTo(wide.logLik[k], 3);
      expect(Math.sqrt(mahalanobis2(g, x))).toBeCloseTo(wide.radius[k], 4);
    }
    expect(() => sampleVirtualOutliers(g, 4, new Rng(1), 10, 0)).toThrow(/scale/);
  });

  it('the pool source keeps the least likely pool instances themselves, farthest first', () => {
    const pool = new FeaturePool(D, 500);
    pool.add(drawKnown(400, new Rng(8)));
    const { mean, cov } = pool.moments();
    const g = fitGaussian(mean, cov);
    const out = leastLikelyPoolInstances(pool, g, 10);
    const r = Array.from({ length: pool.size }, (_, i) => Math.sqrt(mahalanobis2(g, pool.vector(i)))).sort((a, b) => b - a);
    expect(Array.from(out.radius)).toEqual(r.slice(0, 10).map((v) => expect.closeTo(v, 9)));
    // Each returned vector is a pool row.
    const rows = new Set(Array.from({ length: pool.size }, (_, i) => Array.from(pool.vector(i)).join(',')));
    for (let k = 0; k < 10; k++) expect(rows.has(Array.from(out.v.subarray(k * D, (k + 1) * D)).join(','))).toBe(true);
    const viaEstimate = estimateOutliers(pool, 10, new Rng(0), { source: 'pool' });
    expect(Array.from(viaEstimate.v)).toEqual(Array.from(out.v));
    expect(() => estimateOutliers(pool, 10, new Rng(0), { source: 'bogus' as 'pool' })).toThrow(/unknown estimation source/);
  });
});
