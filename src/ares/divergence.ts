/**
 * Divergence stage (paper §3.3.4, Eq. 7–13): the learnable-weight energy of Eq. 12, Gaussians
 * fitted to the inlier and outlier energies, their Jensen–Shannon divergence in closed form, and
 * the three ways it can enter the loss (design.md "measured hazard"):
 *   reciprocal  β / (JSD + ε), capped at `clip`   the paper's Eq. 13, gradient on
 *   linear      −β · JSD                           bounded gradient; the model is pushed to separate
 *   detached    β / (JSD + ε) with no gradient     what a public ARES-like script effectively does
 * Every form returns a finite number for finite energies (ε > 0, variance floor, JSD ≥ 0) and
 * replaces a non-finite result by 0 rather than poisoning the update.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { stopGradient } from './stop-gradient.js';

/** How the JSD enters the loss (design.md "measured hazard"). */
export type DivergenceForm = 'linear' | 'reciprocal' | 'detached';
export const DIVERGENCE_FORMS: readonly DivergenceForm[] = ['linear', 'reciprocal', 'detached'];

export interface DivergenceConfig {
  /** How the JSD enters the loss (TrainConfig.divergence); default: the one config.ts records as chosen by the validation protocol. */
  form: DivergenceForm;
  /** β, the weight of the discrimination term (paper: 0.1). */
  beta: number;
  /** ε in β/(JSD + ε): the paper has none; 0.01 bounds the reciprocal term by β/ε = 10 at β = 0.1. */
  eps: number;
  /** Cap on the reciprocal term's value (only binds when ε is set smaller than β/clip). */
  clip: number;
  /** Floor added to each fitted energy variance (nats²) so σ = 0 (all energies equal) stays finite. */
  varFloor: number;
}

export const DEFAULT_DIVERGENCE: DivergenceConfig = {
  // Chosen by the validation protocol (ID validation + `blobs`), see README.
  form: 'linear',
  beta: 0.1,
  eps: 1e-2,
  clip: 10,
  varFloor: 1e-4,
};

/** Weights below this count as this inside the log, so w_k = 0 (or relu'd negative) cannot give log 0. */
export const ENERGY_WEIGHT_FLOOR = 1e-8;

/** w of Eq. 12: one learnable weight per class, initialised to 1. */
export function createEnergyWeights(numClasses: number, name?: string): tf.Variable {
  return tf.variable(tf.ones([numClasses]), true, name);
}

/**
 * Eq. 12: E = −log Σ_k relu(w_k)·exp(f_k), computed as −logsumexp(f_k + log max(w_k, floor))
 * (max-shifted, so logits of ±1e4 do not overflow). logits: [B, K], w: [K] -> E: [B]
 */
export function energy(logits: tf.Tensor2D, w: tf.Tensor1D | tf.Variable): tf.Tensor1D {
  if (logits.shape[1] !== w.shape[0]) throw new AresError(`energy: ${logits.shape[1]} logits per row but ${w.shape[0]} weights`);
  return tf.tidy(() => {
    const logW = tf.log(tf.maximum(w, ENERGY_WEIGHT_FLOOR)); // [K]; also relu: negative w -> floor
    return tf.neg(tf.logSumExp(tf.add(logits, logW), 1)) as tf.Tensor1D; // [B]
  });
}

/** KL(N(μa, va) ‖ N(μb, vb)) in nats, variances given. */
function klGauss(mA: tf.Scalar, vA: tf.Scalar, mB: tf.Scalar, vB: tf.Scalar): tf.Scalar {
  return tf.tidy(() => tf.sub(
    tf.add(tf.mul(0.5, tf.log(tf.div(vB, vA))), tf.div(tf.add(vA, tf.square(tf.sub(mA, mB))), tf.mul(2, vB))),
    0.5,
  ) as tf.Scalar);
}

/**
 * Eq. 8–11: P = N(mean, var) of the inlier energies, Q the same of the outliers' (1/B variances,
 * plus varFloor), M = the moment-matched Gaussian of (P + Q)/2 — mean (μP + μQ)/2, variance
 * (σP² + σQ²)/2 + (μP − μQ)²/4 — and JSD = ½ KL(P‖M) + ½ KL(Q‖M), natural log.
 * eIn: [B], eOut: [B'] -> scalar
 */
export function gaussianJsd(eIn: tf.Tensor1D, eOut: tf.Tensor1D, varFloor = DEFAULT_DIVERGENCE.varFloor): tf.Scalar {
  if (eIn.shape[0] < 1 || eOut.shape[0] < 1) throw new AresError('gaussianJsd needs at least one inlier and one outlier energy');
  return tf.tidy(() => {
    const p = tf.moments(eIn);
    const q = tf.moments(eOut);
    const mP = p.mean as tf.Scalar, vP = tf.add(p.variance, varFloor) as tf.Scalar;
    const mQ = q.mean as tf.Scalar, vQ = tf.add(q.variance, varFloor) as tf.Scalar;
    const mM = tf.mul(0.5, tf.add(mP, mQ)) as tf.Scalar;
    const vM = tf.add(tf.mul(0.5, tf.add(vP, vQ)), tf.mul(0.25, tf.square(tf.sub(mP, mQ)))) as tf.Scalar;
    return tf.mul(0.5, tf.add(klGauss(mP, vP, mM, vM), klGauss(mQ, vQ, mM, vM))) as tf.Scalar;
  });
}

/** The same closed form on plain numbers (monitoring, tests). */
export function gaussianJsdValue(p: { mean: number; variance: number }, q: { mean: number; variance: number }): number {
  const kl = (ma: number, va: number, mb: number, vb: number) => 0.5 * Math.log(vb / va) + (va + (ma - mb) ** 2) / (2 * vb) - 0.5;
  const mM = (p.mean + q.mean) / 2;
  const vM = (p.variance + q.variance) / 2 + (p.mean - q.mean) ** 2 / 4;
  return 0.5 * (kl(p.mean, p.variance, mM, vM) + kl(q.mean, q.variance, mM, vM));
}

/** Replaces a non-finite scalar by 0 (forward value; finite inputs never reach this). */
function finiteOrZero(x: tf.Scalar): tf.Scalar {
  return tf.tidy(() => tf.where(tf.isFinite(x), x, tf.zerosLike(x)) as tf.Scalar);
}

export function checkDivergenceConfig(cfg: DivergenceConfig): void {
  if (!(DIVERGENCE_FORMS as readonly string[]).includes(cfg.form)) {
    throw new AresError(`unknown divergence form "${cfg.form}"; choose one of ${DIVERGENCE_FORMS.join(', ')}`, { exitCode: 2 });
  }
  if (!(cfg.beta >= 0) || !Number.isFinite(cfg.beta)) throw new AresError(`divergence beta must be a finite number >= 0, got ${cfg.beta}`);
  if (!(cfg.eps > 0)) throw new AresError(`divergence eps must be > 0 (it keeps β/(JSD+ε) finite), got ${cfg.eps}`);
  if (!(cfg.clip > 0)) throw new AresError(`divergence clip must be > 0, got ${cfg.clip}`);
  if (!(cfg.varFloor > 0)) throw new AresError(`divergence varFloor must be > 0, got ${cfg.varFloor}`);
}

/** The discrimination term added to the classification loss for a JSD value (scalar -> scalar). */
export function divergenceLoss(jsd: tf.Scalar, config: Partial<DivergenceConfig> = {}): tf.Scalar {
  const cfg = { ...DEFAULT_DIVERGENCE, ...config };
  checkDivergenceConfig(cfg);
  return tf.tidy(() => {
    // JSD ≥ 0 in exact arithmetic; rounding can dip below, which would let β/(JSD + ε) blow up.
    const j = tf.relu(finiteOrZero(jsd)) as tf.Scalar;
    const reciprocal = () => tf.minimum(tf.div(cfg.beta, tf.add(j, cfg.eps)), cfg.clip) as tf.Scalar;
    switch (cfg.form) {
      case 'reciprocal': return finiteOrZero(reciprocal());
      case 'linear': return finiteOrZero(tf.mul(-cfg.beta, j) as tf.Scalar);
      case 'detached': return stopGradient(finiteOrZero(reciprocal()));
    }
  });
}
