/**
 * ViM, virtual-logit matching (Wang et al., 2022, "ViM: Out-Of-Distribution with Virtual-logit Matching"):
 *
 *   origin     u = −(Wᵀ)⁺ b, for logits l = Wᵀ h + b (W = the head's [d, K] kernel, ⁺ = pseudo-inverse);
 *              u = 0 for a head without bias (as the paper says). When the head's weights are not
 *              given, u = the mean ID training feature instead (not in the paper: the natural centre
 *              of the features; the origin only has to make the residual space meaningful).
 *   subspace   P = the D leading eigenvectors of (1/N) Σ_i (h_i − u)(h_i − u)ᵀ over ID training
 *              features (centred at u, not at their mean, as in the authors' code); R = the other d − D.
 *   residual   ‖x^{P⊥}‖ = ‖Rᵀ (h − u)‖₂
 *   α          = Σ_i max_k l_ik / Σ_i ‖x_i^{P⊥}‖ over ID training data (matches the virtual logit's
 *              scale to the real ones)
 *   virtual logit l₀ = α‖x^{P⊥}‖; the paper's OOD score is its softmax probability
 *              p₀ = e^{l₀} / (e^{l₀} + Σ_k e^{l_k}).
 *   score(x) = logsumexp_k(l_k) − α‖x^{P⊥}‖   (higher = more in-distribution)
 *
 * The score is the authors' released form: p₀ = 1 / (1 + e^{score}) is strictly decreasing in it, so
 * it ranks every image exactly as −p₀ does (same FPR95, AUROC, ...) without p₀'s saturation at 0/1.
 *
 * D (`principalDim`): the paper uses D = 1000 for 2048-d features and D = 512 for 768-d ones; for
 * other widths we take D = 1000 when d ≥ 1500, 512 when d ≥ 768, else ⌈d/2⌉ (the residual keeps the
 * other half: for 128-d features, D = 64).
 *
 * Rank-deficient features (fewer training rows than dimensions, collinear features): the covariance
 * has numerical rank r < d (eigenvalues at or below spanCutoff, util/linalg.ts, count as zero). If
 * D ≥ r, P already holds every direction the training features vary in, their residuals are zero up
 * to rounding, and α = Σ max logit / Σ rounding noise explodes (α·‖x^{P⊥}‖ of a fresh ID point was
 * ~1e7). D just below r is hardly better: the residual keeps the span's few least-varying directions,
 * α grows as large, and fresh ID rows, partly off a span of too few rows, are charged as if far out.
 * So when r is below the number of features that vary at all (dead ReLU units, constant on the
 * training data, do not count: they cost ViM nothing, and taking them for a deficiency would change
 * D, and the scores, of most trained networks), the default D follows the rule above applied to r
 * instead of d (⌈r/2⌉ below 768): the residual
 * keeps real training variance, α stays on the logits' scale, and the residual space also holds
 * every direction off the training span, so an outlier off it is charged α·(its distance off the
 * span), as the paper charges any residual. A D that was asked for is kept when it is below r, and
 * clamped to default(r) when not. The state's format does not change (D is stored); fit() leaves one
 * warning line in `warnings` when D changes.
 */
import { AresError, NotFittedError } from '../errors.js';
import { maxMeanSquare, numericalRank, pseudoInverse, spanCutoff, symmetricEigen } from '../util/linalg.js';
import { decodeF32, decodeF64, encodeF32, encodeF64 } from './codec.js';
import { type Detector, type LabelledOutputsIn, type LinearHead, type Matrix, type OutputsIn, readMatrix } from './types.js';

export interface VimParams {
  /** D, the principal subspace's dimension (see above for the default). */
  principalDim?: number;
}

export interface VimState {
  dim: number;
  principalDim: number;
  /** Where u came from: the head's weights, or the mean ID feature when none were given. */
  origin: 'head' | 'mean';
  /** u: [d] */
  u: Float64Array;
  /** R: [d, d − D] row-major, the residual space's orthonormal basis (float32: it is stored so). */
  residualBasis: Float32Array;
  alpha: number;
}

/** The default D for d-dimensional features (see the file comment). */
export function defaultPrincipalDim(d: number): number {
  return d >= 1500 ? 1000 : d >= 768 ? 512 : Math.ceil(d / 2);
}

export function vim(params: VimParams = {}): Detector<OutputsIn, LabelledOutputsIn, VimState> {
  let state: VimState | null = null;
  let warnings: string[] = [];
  return {
    name: 'vim', params: { principalDim: params.principalDim }, requiresFit: true,
    get state() { return state; },
    get warnings() { return warnings; },
    fit(data) {
      ({ state, warnings } = fitVim(data, params.principalDim));
      return this;
    },
    restore(s) {
      state = s;
      warnings = [];
      return this;
    },
    score(input) {
      if (!state) throw new NotFittedError('vim');
      return vimScores(state, input);
    },
  };
}

function fitVim(data: LabelledOutputsIn, principalDim?: number): { state: VimState; warnings: string[] } {
  if (!data.features) throw new AresError('vim is fitted on penultimate features; the outputs have none');
  const x = readMatrix(data.features, 'vim features');
  const logits = readMatrix(data.logits, 'vim logits');
  const d = x.cols, N = x.rows;
  if (logits.rows !== N) throw new AresError(`vim fit: ${logits.rows} rows of logits for ${N} rows of features`);
  let D = principalDim ?? defaultPrincipalDim(d);
  if (!Number.isInteger(D) || D < 1 || D >= d) throw new AresError(`vim: principalDim must be an integer in [1, ${d - 1}] for ${d}-d features, got ${D}`);
  const origin = data.head ? 'head' : 'mean';
  const u = data.head ? headOrigin(data.head, d, logits.cols) : meanRow(x);
  const cov = new Float64Array(d * d);
  const y = new Float64Array(d);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < d; j++) y[j] = x.data[r * d + j] - u[j];
    for (let i = 0; i < d; i++) {
      if (y[i] === 0) continue;
      for (let j = 0; j <= i; j++) cov[i * d + j] += y[i] * y[j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) { cov[i * d + j] /= N; cov[j * d + i] = cov[i * d + j]; }
  const { values, vectors } = symmetricEigen(cov, d);
  const rank = numericalRank(values, spanCutoff(values[0], maxMeanSquare(x)));
  const warnings: string[] = [];
  const deficient = rank < varyingColumns(x);
  if (D >= rank || (principalDim === undefined && deficient && defaultPrincipalDim(rank) < D)) {
    if (rank < 2) throw new AresError(`vim: the ${N} training rows span ${rank} dimension(s) of the ${d}-d features; ViM needs at least 2 (a principal space and a residual)`);
    // ⌈r/2⌉, 512 or 1000: below r for every r ≥ 2.
    const clamped = defaultPrincipalDim(rank);
    warnings.push(`vim: ${N} training rows for ${d} feature dimensions (rank ${rank}): principal subspace D = ${clamped} instead of ${D}, `
      + 'so that the residual keeps some of the training features\' variance; a move off their span counts as residual');
    D = clamped;
  }
  const m = d - D;
  const residualBasis = new Float32Array(d * m);
  for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) residualBasis[i * m + j] = vectors[i * d + D + j];
  const partial: VimState = { dim: d, principalDim: D, origin, u, residualBasis, alpha: 1 };
  const res = residualNorms(partial, x);
  let sumMax = 0, sumRes = 0;
  for (let r = 0; r < N; r++) {
    let mx = -Infinity;
    for (let k = 0; k < logits.cols; k++) mx = Math.max(mx, logits.data[r * logits.cols + k]);
    sumMax += mx;
    sumRes += res[r];
  }
  if (!(sumRes > 0)) throw new AresError('vim: the ID training features have no residual outside the principal subspace; lower principalDim');
  return { state: { ...partial, alpha: sumMax / sumRes }, warnings };
}

/** u = −(Wᵀ)⁺ b with W the [d, K] kernel, so that Wᵀu + b is as close to 0 as it can be. */
function headOrigin(head: LinearHead, d: number, K: number): Float64Array {
  const W = head.kernel;
  if (W.rows !== d || W.cols !== K) throw new AresError(`vim: the head's kernel is [${W.rows}, ${W.cols}], expected [${d}, ${K}] (features × classes)`);
  if (!head.bias) return new Float64Array(d);
  if (head.bias.length !== K) throw new AresError(`vim: the head's bias has ${head.bias.length} values for ${K} classes`);
  const Wt = new Float64Array(K * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < K; k++) Wt[k * d + i] = W.data[i * K + k];
  const pinv = pseudoInverse(Wt, K, d); // [d, K]
  const u = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += pinv[i * K + k] * head.bias[k];
    u[i] = -s;
  }
  return u;
}

/** How many features vary on the training data (variance above 1e-12 of the largest, as Mahalanobis keeps them). */
function varyingColumns(x: Matrix): number {
  const mean = meanRow(x);
  const variance = new Float64Array(x.cols);
  for (let r = 0; r < x.rows; r++) for (let j = 0; j < x.cols; j++) variance[j] += (x.data[r * x.cols + j] - mean[j]) ** 2;
  const max = variance.reduce((a, v) => Math.max(a, v), 0);
  return variance.filter((v) => v > 1e-12 * max).length;
}

function meanRow(x: Matrix): Float64Array {
  const u = new Float64Array(x.cols);
  for (let r = 0; r < x.rows; r++) for (let j = 0; j < x.cols; j++) u[j] += x.data[r * x.cols + j];
  for (let j = 0; j < x.cols; j++) u[j] /= x.rows;
  return u;
}

/** ‖Rᵀ(h − u)‖ per row. */
function residualNorms(s: VimState, x: Matrix): Float64Array {
  const d = s.dim, m = d - s.principalDim, R = s.residualBasis;
  const y = new Float64Array(d), p = new Float64Array(m);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < d; i++) y[i] = x.data[r * d + i] - s.u[i];
    p.fill(0);
    for (let i = 0; i < d; i++) {
      const yi = y[i];
      if (yi === 0) continue;
      for (let j = 0; j < m; j++) p[j] += yi * R[i * m + j];
    }
    let t = 0;
    for (let j = 0; j < m; j++) t += p[j] * p[j];
    out[r] = Math.sqrt(t);
  }
  return out;
}

/** logsumexp(logits) − α‖x^{P⊥}‖ per row. */
export function vimScores(s: VimState, input: OutputsIn): Float64Array {
  if (!input.features) throw new AresError('vim scores penultimate features; the outputs have none');
  const x = readMatrix(input.features, 'vim features');
  const l = readMatrix(input.logits, 'vim logits');
  if (x.cols !== s.dim) throw new AresError(`vim was fitted on ${s.dim}-d features, got ${x.cols}-d`);
  if (l.rows !== x.rows) throw new AresError(`vim: ${l.rows} rows of logits for ${x.rows} rows of features`);
  const res = residualNorms(s, x);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    let mx = -Infinity;
    for (let k = 0; k < l.cols; k++) mx = Math.max(mx, l.data[r * l.cols + k]);
    let sum = 0;
    for (let k = 0; k < l.cols; k++) sum += Math.exp(l.data[r * l.cols + k] - mx);
    out[r] = mx + Math.log(sum) - s.alpha * res[r];
  }
  return out;
}

export function vimStateToJson(s: VimState): Record<string, unknown> {
  return { dim: s.dim, principalDim: s.principalDim, origin: s.origin, alpha: s.alpha, u: encodeF64(s.u), residualBasis: encodeF32(s.residualBasis) };
}

export function vimStateFromJson(json: unknown, file?: string): VimState {
  const o = json as Record<string, unknown> | null;
  const dim = Number(o?.dim), D = Number(o?.principalDim), alpha = Number(o?.alpha);
  if (!Number.isInteger(dim) || !Number.isInteger(D) || D < 1 || D >= dim) throw new AresError('vim state: needs integers dim > principalDim ≥ 1', { file });
  if (!Number.isFinite(alpha)) throw new AresError('vim state: "alpha" must be a finite number', { file });
  if (o?.origin !== 'head' && o?.origin !== 'mean') throw new AresError('vim state: "origin" must be "head" or "mean"', { file });
  try {
    return { dim, principalDim: D, origin: o.origin, alpha, u: decodeF64(o.u, dim, 'u'), residualBasis: decodeF32(o.residualBasis, dim * (dim - D), 'residualBasis') };
  } catch (err) {
    throw new AresError(`vim state: ${(err as Error).message}`, { file });
  }
}
