/**
 * The discrimination loss between inliers and virtual outliers, with the paper's Table 3 ablation
 * behind one signature (`--loss jsd|ce|nce`). All three score with the energy of Eq. 12 and
 * return a term added to the classification loss, already weighted by β:
 *   jsd  the Divergence stage (divergence.ts), in the configured form
 *   ce   VOS-style logistic regression: p(ID) = σ(a·(−E) + b) with a learnable (a, b), binary
 *        cross-entropy with inliers = 1, outliers = 0 (a, b start at 1, 0)
 *   nce  InfoNCE on the scores s = −E/τ: each inlier is the positive against all outliers,
 *        ℓ_i = −log(e^{s_i} / (e^{s_i} + Σ_j e^{s_j^out})) = softplus(logsumexp_j s_j^out − s_i)
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import {
  DEFAULT_DIVERGENCE, checkDivergenceConfig, createEnergyWeights, divergenceTerm, energy, gaussianJsd,
  type DivergenceConfig,
} from './divergence.js';
import { stopGradient } from './stop-gradient.js';

/** Discrimination loss between inlier and outlier energies (paper Table 3). */
export type DiscriminationLoss = 'jsd' | 'ce' | 'nce';
export const DISCRIMINATION_LOSSES: readonly DiscriminationLoss[] = ['jsd', 'ce', 'nce'];

export interface DiscriminationConfig extends DivergenceConfig {
  /** Which loss (paper Table 3). Default: jsd. */
  loss: DiscriminationLoss;
  /** τ of the nce form (energies are in nats, the logits' scale). Default: 1. */
  temperature: number;
}

export const DEFAULT_DISCRIMINATION: DiscriminationConfig = {
  ...DEFAULT_DIVERGENCE,
  loss: 'jsd',
  temperature: 1,
};

/** The learnable parameters of the discrimination stage (train them with the model's). */
export interface DiscriminationParams {
  /** w of Eq. 12: [K], starts at 1 */
  w: tf.Variable;
  /** ce only: (a, b) of the logistic regression on −E: [2], starts at (1, 0) */
  affine: tf.Variable | null;
  /** The variables this loss trains: [w] or [w, affine]. */
  variables: tf.Variable[];
}

export function createDiscriminationParams(numClasses: number, loss: DiscriminationLoss = DEFAULT_DISCRIMINATION.loss): DiscriminationParams {
  if (!(DISCRIMINATION_LOSSES as readonly string[]).includes(loss)) {
    throw new AresError(`unknown discrimination loss "${loss}"; choose one of ${DISCRIMINATION_LOSSES.join(', ')}`, { exitCode: 2 });
  }
  const w = createEnergyWeights(numClasses);
  const affine = loss === 'ce' ? tf.variable(tf.tensor1d([1, 0]), true) : null;
  return { w, affine, variables: affine ? [w, affine] : [w] };
}

export function disposeDiscriminationParams(p: DiscriminationParams): void {
  p.variables.forEach((v) => v.dispose());
}

export interface DiscriminationResult {
  /** The term to add to the classification loss (β included). */
  loss: tf.Scalar;
  /** Gaussian JSD of the inlier/outlier energies, for monitoring (no gradient). */
  jsd: tf.Scalar;
  /** Mean energies, for monitoring (no gradient). */
  meanEnergyIn: tf.Scalar;
  meanEnergyOut: tf.Scalar;
  /** The energies themselves, for monitoring (no gradient): eIn [B], eOut [B']. */
  energyIn: tf.Tensor1D;
  energyOut: tf.Tensor1D;
}

function logisticLoss(eIn: tf.Tensor1D, eOut: tf.Tensor1D, affine: tf.Variable): tf.Scalar {
  const a = tf.slice(affine, [0], [1]), b = tf.slice(affine, [1], [1]);
  const z = tf.add(tf.mul(a, tf.neg(tf.concat([eIn, eOut]))), b); // [B + B'] logits of "is ID"
  const y = tf.concat([tf.ones([eIn.shape[0]]), tf.zeros([eOut.shape[0]])]);
  // Binary cross-entropy with logits, stably: softplus(z) − y·z.
  return tf.mean(tf.sub(tf.softplus(z), tf.mul(y, z))) as tf.Scalar;
}

function infoNceLoss(eIn: tf.Tensor1D, eOut: tf.Tensor1D, temperature: number): tf.Scalar {
  const sIn = tf.div(tf.neg(eIn), temperature); // [B]
  const lseOut = tf.logSumExp(tf.div(tf.neg(eOut), temperature)); // scalar
  return tf.mean(tf.softplus(tf.sub(lseOut, sIn))) as tf.Scalar;
}

/**
 * The discrimination term for one step. logitsIn: [B, K] (f_cls(f_ext(x*)) of the PixMix batch),
 * logitsOut: [B', K] (f_cls(v) of the virtual outliers).
 */
export function discriminationLoss(
  logitsIn: tf.Tensor2D, logitsOut: tf.Tensor2D, params: DiscriminationParams, config: Partial<DiscriminationConfig> = {},
): DiscriminationResult {
  const cfg = { ...DEFAULT_DISCRIMINATION, ...config };
  checkDivergenceConfig(cfg);
  if (cfg.loss === 'ce' && !params.affine) throw new AresError('the ce discrimination loss needs params made with createDiscriminationParams(K, "ce")');
  if (cfg.loss === 'nce' && !(cfg.temperature > 0)) throw new AresError(`nce temperature must be > 0, got ${cfg.temperature}`);
  return tf.tidy(() => {
    const eIn = energy(logitsIn, params.w); // [B]
    const eOut = energy(logitsOut, params.w); // [B']
    const jsd = gaussianJsd(eIn, eOut, cfg.varFloor);
    let loss: tf.Scalar;
    switch (cfg.loss) {
      case 'jsd': loss = divergenceTerm(eIn, eOut, cfg, jsd); break;
      case 'ce': loss = tf.mul(cfg.beta, logisticLoss(eIn, eOut, params.affine as tf.Variable)) as tf.Scalar; break;
      case 'nce': loss = tf.mul(cfg.beta, infoNceLoss(eIn, eOut, cfg.temperature)) as tf.Scalar; break;
      default: throw new AresError(`unknown discrimination loss "${cfg.loss as string}"`, { exitCode: 2 });
    }
    return {
      loss,
      jsd: stopGradient(jsd),
      meanEnergyIn: stopGradient(tf.mean(eIn) as tf.Scalar),
      meanEnergyOut: stopGradient(tf.mean(eOut) as tf.Scalar),
      energyIn: stopGradient(eIn),
      energyOut: stopGradient(eOut),
    };
  });
}
