import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { LOGITNORM_DEFAULTS, logitNormLoss } from '../../src/methods/logitnorm.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

/** The paper's loss in float64, written out independently: mean_i −log softmax(l_i / (τ(‖l_i‖ + ε)))[y_i]. */
function reference(logits: number[][], labels: number[], tau: number): number {
  let sum = 0;
  logits.forEach((row, i) => {
    const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0)) + 1e-7;
    const z = row.map((v) => v / (tau * norm));
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    sum += lse - z[labels[i]];
  });
  return sum / logits.length;
}

function tfLoss(logits: number[][], labels: number[], tau: number): number {
  return tf.tidy(() => {
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), logits[0].length) as tf.Tensor2D;
    return logitNormLoss(y, tf.tensor2d(logits), tau).dataSync()[0];
  });
}

describe('LogitNorm loss', () => {
  it('is the cross-entropy of logits scaled to norm 1/τ (a hand computation)', () => {
    // Row 1: ‖(3, 4)‖ = 5, so with τ = 0.5 the scaled logits are (1.2, 1.6): CE for class 0 is log(1 + e^0.4) − 0 ... spelled out:
    const byHand = Math.log(Math.exp(1.2) + Math.exp(1.6)) - 1.2;
    expect(tfLoss([[3, 4]], [0], 0.5)).toBeCloseTo(byHand, 5);
    const logits = [[2, -1, 0.5], [0.1, 0.2, -3], [-1, 4, 2]];
    for (const tau of [0.04, 0.5, 1]) expect(tfLoss(logits, [0, 2, 1], tau)).toBeCloseTo(reference(logits, [0, 2, 1], tau), 4);
    expect(LOGITNORM_DEFAULTS.tau).toBe(0.04);
  });

  it('does not change when the logits are scaled (their norm no longer lowers the loss), unlike plain CE', () => {
    const logits = [[2, -1, 0.5], [0.1, 0.2, -3]];
    const scaled = logits.map((r) => r.map((v) => 10 * v));
    expect(tfLoss(scaled, [0, 1], 0.3)).toBeCloseTo(tfLoss(logits, [0, 1], 0.3), 4);
    const ce = (l: number[][]) => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 1], 'int32'), 3), tf.tensor2d(l)).dataSync()[0]);
    expect(Math.abs(ce(scaled) - ce(logits))).toBeGreaterThan(0.1);
  });

  it('has the gradient of its definition (central finite differences in float64)', () => {
    const rng = new Rng(3);
    const B = 4, K = 5;
    const logits = Array.from({ length: B }, () => Array.from({ length: K }, () => 2 * rng.normal()));
    const labels = Array.from({ length: B }, () => rng.int(K));
    for (const tau of [0.04, 0.5]) {
      const g = tf.tidy(() => {
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), K) as tf.Tensor2D;
        return tf.grad((l: tf.Tensor) => logitNormLoss(y, l as tf.Tensor2D, tau))(tf.tensor2d(logits)).arraySync() as number[][];
      });
      const h = 1e-5;
      for (let i = 0; i < B; i++) {
        for (let k = 0; k < K; k++) {
          const plus = logits.map((r) => [...r]); plus[i][k] += h;
          const minus = logits.map((r) => [...r]); minus[i][k] -= h;
          const numeric = (reference(plus, labels, tau) - reference(minus, labels, tau)) / (2 * h);
          // float32 autodiff against float64 differences: absolute error well below the gradient's scale.
          expect(Math.abs(g[i][k] - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
        }
      }
    }
  });
});
