/**
 * LogitNorm (Wei et al., ICML 2022, "Mitigating neural network overconfidence with logit
 * normalization"): train with cross-entropy on logits scaled to a fixed norm,
 *
 *   loss = CE(f(x) / (τ·(‖f(x)‖₂ + ε)), y),   τ = 0.04 (the paper's CIFAR-10 value), ε = 1e-7,
 *
 * so the loss cannot be lowered by growing the logits' norm, only by their direction. ε is the
 * authors' code's guard against a zero logit vector. Only the loss changes: inference, and so every
 * post-hoc score (MSP, energy, ...), reads the raw logits f(x), as in the paper.
 */
import * as tf from '@tensorflow/tfjs';
import { classificationLoss } from './ce-step.js';

export const LOGITNORM_DEFAULTS = {
  /** Temperature τ; the paper's value for CIFAR-10. */
  tau: 0.04,
  /** Added to the norm so an all-zero logit row does not divide by zero (the authors' code). */
  epsilon: 1e-7,
} as const;

/**
 * LogitNorm loss of a batch, a tf scalar for use inside a gradient closure.
 * yOneHot, logits: [B, K]. Mean over the batch of CE(logits_i / (τ·(‖logits_i‖ + ε)), y_i), the
 * targets smoothed by labelSmoothing as every method's classification loss (classificationLoss).
 */
export function logitNormLoss(yOneHot: tf.Tensor2D, logits: tf.Tensor2D, tau: number = LOGITNORM_DEFAULTS.tau, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const norms = tf.add(tf.norm(logits, 2, 1, true), LOGITNORM_DEFAULTS.epsilon); // [B, 1]
    const normalized = tf.div(logits, tf.mul(norms, tau));
    return classificationLoss(yOneHot, normalized, labelSmoothing);
  });
}
