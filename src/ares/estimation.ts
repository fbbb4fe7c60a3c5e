/**
 * Estimation stage (paper §3.3.3, Eq. 4–6): a class-agnostic Gaussian N(μ, Σ) of the expanded
 * feature pool X̃; draw M candidates from it and keep the B with the lowest likelihood as
 * virtual outliers v (ε, the likelihood threshold of Eq. 6, is the B-th smallest).
 *
 * Cost: with v = μ + L z (Σ = L Lᵀ), log N(v; μ, Σ) = −½‖z‖² − Σ log L_ii − (d/2) log 2π, so the
 * ranking depends on ‖z‖² alone. A standard normal z is an independent radius and direction:
 * ‖z‖² ~ χ²_d and z/‖z‖ uniform on the sphere. So we draw the M radii, keep the B largest, and
 * draw directions only for those B — the same distribution as drawing M full vectors and
 * keeping the B farthest, at O(M + B·d²) instead of O(M·d²) per step.
 *
 * How far that reaches is fixed by d alone: the kept radii are the top B/M order statistics of
 * χ_d, ≈ 13–14 at d = 128, B/M = 128/10,000, against ≈ 11.3 for a typical draw — barely outside the
 * bulk. Two options reach further (EstimationConfig.source / scale):
 *   scale τ   draw from N(μ, τ²Σ) and keep the lowest likelihood under N(μ, Σ): radii × τ
 *   pool      the paper's other reading (Fig. 1(c)): keep the B pool instances with the lowest
 *             likelihood under N(μ, Σ) — real mixed features, as far out as the pool's own tail
 * (measured radii: docs/estimation-radius.md).
 */
import { cholesky } from '../util/linalg.js';
import { AresError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { FeaturePool } from './expansion.js';

export interface EstimationConfig {
  /** Added to Σ's diagonal before factorising (design: 1e-4). */
  ridge: number;
  /** M, candidates drawn per step (paper: 10,000). */
  candidates: number;
  /** Where outliers come from: `sampler` (draws from the fit, the default) or `pool` (the least likely pool instances). */
  source: EstimationSource;
  /** τ: the sampler draws from N(μ, τ²Σ) (1 = the paper). Ignored by `pool`. */
  scale: number;
}

export type EstimationSource = 'sampler' | 'pool';
export const ESTIMATION_SOURCES: readonly EstimationSource[] = ['sampler', 'pool'];

// Source and τ: stage 2 of the rule of docs/validation-protocol.md (directional, β = 0.1, seeds
// 0–2, validation data only). Both reaching-out options fail its energy guard: with τ = 2 the
// virtual outliers end at LOWER energy than the inliers in all three seeds (final E_out −8.60 vs
// E_in −6.53), with `pool` in seed 0 (on average E_out −6.37 vs E_in −6.56: barely apart). Their
// validation FPR95 was 4.68 (τ = 2) and 5.38 (pool) against 4.73. So the paper's sampler at τ = 1.
export const DEFAULT_ESTIMATION: EstimationConfig = { ridge: 1e-4, candidates: 10_000, source: 'sampler', scale: 1 };

/** Shrinkage toward the diagonal tried in turn when the Cholesky factorisation fails. */
export const SHRINKAGE_STEPS: readonly number[] = [0, 1e-3, 1e-2, 0.1, 0.5, 1];

export interface GaussianFit {
  dim: number;
  mean: Float64Array; // [d]
  /** Lower-triangular L with L Lᵀ = (1 − s)Σ + s·diag(Σ) + ridge·I, row-major [d·d] */
  chol: Float64Array;
  /** Σ_i log L_ii = ½ log det of the regularised covariance */
  halfLogDet: number;
  /** s, the shrinkage that made the factorisation succeed (0 almost always) */
  shrinkage: number;
}

/** The shared Cholesky factor (null when not positive definite), re-exported for the stage's callers. */
export { cholesky };

/** N(μ, Σ + ridge·I), shrinking Σ toward its diagonal until it factorises. */
export function fitGaussian(mean: Float64Array, cov: Float64Array, ridge = DEFAULT_ESTIMATION.ridge): GaussianFit {
  const d = mean.length;
  if (cov.length !== d * d) throw new AresError(`covariance has ${cov.length} entries, expected ${d}×${d}`);
  if (!(ridge >= 0)) throw new AresError(`estimation ridge must be >= 0, got ${ridge}`);
  if (!mean.every(Number.isFinite)) throw new AresError('estimation: the pool mean is not finite');
  const a = new Float64Array(d * d);
  for (const s of SHRINKAGE_STEPS) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) a[i * d + j] = (i === j ? cov[i * d + j] + ridge : (1 - s) * cov[i * d + j]);
    }
    const chol = cholesky(a, d);
    if (chol) {
      let halfLogDet = 0;
      for (let i = 0; i < d; i++) halfLogDet += Math.log(chol[i * d + i]);
      return { dim: d, mean: mean.slice(), chol, halfLogDet, shrinkage: s };
    }
  }
  throw new AresError(`estimation: the pool covariance is not positive definite even as a diagonal with ridge ${ridge} (non-finite or negative variances)`);
}

/** log N(μ + L z; μ, Σ) from ‖z‖². */
export function logLikFromRadius(g: GaussianFit, r2: number): number {
  return -0.5 * r2 - g.halfLogDet - 0.5 * g.dim * Math.log(2 * Math.PI);
}

export interface VirtualOutliers {
  /** The kept samples, lowest likelihood first: [B, d] */
  v: Float32Array;
  count: number;
  dim: number;
  /** log N(v_i; μ, Σ) of the kept samples, ascending: [B] */
  logLik: Float64Array;
  /** ε of Eq. 6: the B-th smallest log-likelihood among the candidates (the largest kept) */
  epsilon: number;
  /** log-likelihood of every candidate, kept or not, in draw order: [M] (diagnostics, tests) */
  candidateLogLik: Float64Array;
  /** the shrinkage the Gaussian fit needed */
  shrinkage: number;
  /** Mahalanobis radius ‖L⁻¹(v − μ)‖ of each kept sample under the fit: [B] */
  radius: Float64Array;
}

/** Draws `candidates` from the fit and keeps the `count` least likely (see the file comment). */
export function sampleVirtualOutliers(g: GaussianFit, count: number, rng: Rng, candidates = DEFAULT_ESTIMATION.candidates, scale = 1): VirtualOutliers {
  const d = g.dim;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new AresError(`estimation scale τ must be a finite number > 0, got ${scale}`);
  if (!Number.isInteger(count) || count < 1) throw new AresError(`virtual outlier count must be a positive integer, got ${count}`);
  if (!Number.isInteger(candidates) || candidates < count) {
    throw new AresError(`estimation needs at least as many candidates (${candidates}) as outliers kept (${count})`);
  }
  const r2 = new Float64Array(candidates);
  // χ²_d, times τ² for draws from N(μ, τ²Σ): the radius under the fit N(μ, Σ), which ranks them.
  for (let j = 0; j < candidates; j++) r2[j] = 2 * rng.gamma(d / 2) * scale * scale;
  // The `count` largest radii, largest first (ties broken by draw order). A native numeric sort
  // finds the cut-off; only the few above it are ordered with a comparator.
  const cut = r2.slice().sort()[candidates - count];
  const kept: number[] = [];
  for (let j = 0; j < candidates; j++) if (r2[j] > cut) kept.push(j);
  for (let j = 0; j < candidates && kept.length < count; j++) if (r2[j] === cut) kept.push(j);
  kept.sort((p, q) => r2[q] - r2[p] || p - q);

  const v = new Float32Array(count * d);
  const logLik = new Float64Array(count);
  const z = new Float64Array(d);
  for (let k = 0; k < count; k++) {
    let norm2 = 0;
    do {
      norm2 = 0;
      for (let i = 0; i < d; i++) { z[i] = rng.normal(); norm2 += z[i] * z[i]; }
    } while (norm2 === 0);
    const scale = Math.sqrt(r2[kept[k]] / norm2); // z now has ‖z‖² = r²
    for (let i = 0; i < d; i++) z[i] *= scale;
    for (let i = 0; i < d; i++) {
      let s = g.mean[i];
      const row = i * d;
      for (let j = 0; j <= i; j++) s += g.chol[row + j] * z[j];
      v[k * d + i] = s;
    }
    logLik[k] = logLikFromRadius(g, r2[kept[k]]);
  }
  const candidateLogLik = r2.map((r) => logLikFromRadius(g, r));
  const radius = Float64Array.from(kept, (j) => Math.sqrt(r2[j]));
  return { v, count, dim: d, logLik, epsilon: logLik[count - 1], candidateLogLik, shrinkage: g.shrinkage, radius };
}

/** ‖L⁻¹(x − μ)‖² by forward substitution. */
export function mahalanobis2(g: GaussianFit, x: ArrayLike<number>, offset = 0): number {
  const d = g.dim;
  const z = new Float64Array(d);
  let r2 = 0;
  for (let i = 0; i < d; i++) {
    let s = x[offset + i] - g.mean[i];
    const row = i * d;
    for (let j = 0; j < i; j++) s -= g.chol[row + j] * z[j];
    z[i] = s / g.chol[row + i];
    r2 += z[i] * z[i];
  }
  return r2;
}

/**
 * The paper's other reading of Eq. 6 (Fig. 1(c)): the `count` pool instances with the lowest
 * likelihood under the pool's own Gaussian, least likely first. O(N·d²) per step for N pooled.
 */
export function leastLikelyPoolInstances(pool: FeaturePool, g: GaussianFit, count: number): VirtualOutliers {
  if (!Number.isInteger(count) || count < 1) throw new AresError(`virtual outlier count must be a positive integer, got ${count}`);
  const n = pool.size, d = g.dim;
  if (n < 1) throw new AresError('cannot draw outliers from an empty feature pool');
  const r2 = new Float64Array(n);
  for (let i = 0; i < n; i++) r2[i] = mahalanobis2(g, pool.vector(i));
  const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => r2[q] - r2[p] || p - q);
  // A pool smaller than the batch repeats its instances, farthest first.
  const kept = Array.from({ length: count }, (_, k) => order[k % n]);
  const v = new Float32Array(count * d);
  kept.forEach((i, k) => v.set(pool.vector(i), k * d));
  const logLik = Float64Array.from(kept, (i) => logLikFromRadius(g, r2[i]));
  return {
    v, count, dim: d, logLik, epsilon: logLik[count - 1], candidateLogLik: r2.map((r) => logLikFromRadius(g, r)),
    shrinkage: g.shrinkage, radius: Float64Array.from(kept, (i) => Math.sqrt(r2[i])),
  };
}

/** Estimation for one step: fit the pool's Gaussian and sample `count` virtual outliers. v: [B, d] */
export function estimateOutliers(pool: FeaturePool, count: number, rng: Rng, config: Partial<EstimationConfig> = {}): VirtualOutliers {
  const cfg = { ...DEFAULT_ESTIMATION, ...config };
  if (pool.size < 2) throw new AresError(`estimation needs at least 2 pooled features, the pool holds ${pool.size}`);
  const { mean, cov } = pool.moments();
  const fit = fitGaussian(mean, cov, cfg.ridge);
  if (cfg.source === 'pool') return leastLikelyPoolInstances(pool, fit, count);
  if (cfg.source !== 'sampler') throw new AresError(`unknown estimation source "${cfg.source as string}"; choose one of ${ESTIMATION_SOURCES.join(', ')}`, { exitCode: 2 });
  return sampleVirtualOutliers(fit, count, rng, cfg.candidates, cfg.scale);
}

/** `--no-estimation` ablation: `count` pool vectors chosen at random (distinct while the pool allows). v: [B, d] */
export function randomPoolOutliers(pool: FeaturePool, count: number, rng: Rng): Float32Array {
  if (pool.size < 1) throw new AresError('cannot draw outliers from an empty feature pool');
  const d = pool.dim;
  const out = new Float32Array(count * d);
  const perm = rng.permutation(pool.size);
  for (let k = 0; k < count; k++) {
    const i = k < pool.size ? perm[k] : rng.int(pool.size);
    out.set(pool.vector(i), k * d);
  }
  return out;
}
