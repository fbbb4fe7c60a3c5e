import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDiscriminationParams, discriminationLoss, disposeDiscriminationParams,
} from '../../src/ares/discrimination.js';
import { divergenceLoss, energy, gaussianJsd } from '../../src/ares/divergence.js';
import type { DiscriminationLoss } from '../../src/methods/config.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

const num = (t: tf.Tensor) => t.dataSync()[0];
const IN = tf.tensor2d([[4, 0, -1], [3, 0.5, 0], [0, 5, 1]]);
const OUT = tf.tensor2d([[0.2, 0.1, 0], [0.5, -0.1, 0.3], [0, 0, 0.4], [0.1, 0.2, 0.1]]);
const energies = (t: tf.Tensor2D) => Array.from(energy(t, tf.ones([3]) as tf.Tensor1D).dataSync());
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const lse = (xs: number[]) => { const m = Math.max(...xs); return m + Math.log(xs.reduce((s, v) => s + Math.exp(v - m), 0)); };

describe('discrimination losses (paper Table 3)', () => {
  it('jsd is the divergence term of the chosen form', () => {
    const p = createDiscriminationParams(3, 'jsd');
    const r = discriminationLoss(IN, OUT, p, { loss: 'jsd', form: 'reciprocal' });
    const j = gaussianJsd(energy(IN, p.w), energy(OUT, p.w));
    expect(num(r.jsd)).toBeCloseTo(num(j), 6);
    expect(num(r.loss)).toBeCloseTo(num(divergenceLoss(j, { form: 'reciprocal' })), 6);
    const lin = discriminationLoss(IN, OUT, p, { loss: 'jsd', form: 'linear', beta: 0.5 });
    expect(num(lin.loss)).toBeCloseTo(-0.5 * num(j), 6);
    expect(p.variables).toEqual([p.w]);
    disposeDiscriminationParams(p);
  });

  it('ce is β·BCE of σ(a·(−E) + b), inliers 1 and outliers 0 (a = 1, b = 0 at start)', () => {
    const p = createDiscriminationParams(3, 'ce');
    const eIn = energies(IN), eOut = energies(OUT);
    const bce = [...eIn.map((e) => softplus(-e) - -e), ...eOut.map((e) => softplus(-e))];
    const expected = 0.1 * bce.reduce((s, v) => s + v, 0) / bce.length;
    expect(num(discriminationLoss(IN, OUT, p, { loss: 'ce', beta: 0.1 }).loss)).toBeCloseTo(expected, 5);
    expect(p.variables.length).toBe(2);
    disposeDiscriminationParams(p);
  });

  it('nce is β·mean_i −log(e^{s_i} / (e^{s_i} + Σ_j e^{s_j^out})), s = −E/τ', () => {
    const p = createDiscriminationParams(3, 'nce');
    const tau = 2;
    const sIn = energies(IN).map((e) => -e / tau), sOut = energies(OUT).map((e) => -e / tau);
    const per = sIn.map((s) => -(s - lse([s, ...sOut])));
    const expected = 0.1 * per.reduce((a, b) => a + b, 0) / per.length;
    expect(num(discriminationLoss(IN, OUT, p, { loss: 'nce', beta: 0.1, temperature: tau }).loss)).toBeCloseTo(expected, 5);
    disposeDiscriminationParams(p);
  });

  it('every loss trains its parameters and the logits; ce and nce push inlier −E up relative to outliers', () => {
    for (const loss of ['jsd', 'ce', 'nce'] as DiscriminationLoss[]) {
      const p = createDiscriminationParams(3, loss);
      const li = tf.variable(IN.clone()), lo = tf.variable(OUT.clone());
      const { value, grads } = tf.variableGrads(
        () => discriminationLoss(li as unknown as tf.Tensor2D, lo as unknown as tf.Tensor2D, p, { loss, form: 'linear' }).loss,
        [...p.variables, li, lo]);
      expect(Number.isFinite(num(value))).toBe(true);
      for (const v of [...p.variables, li, lo]) {
        const g = Array.from(grads[v.name].dataSync());
        expect(g.every(Number.isFinite)).toBe(true);
        expect(g.some((x) => Math.abs(x) > 1e-7)).toBe(true);
      }
      if (loss !== 'jsd') {
        // Gradient descent on the inlier logits raises their logsumexp (= −E).
        const gIn = tf.sum(tf.mul(grads[li.name], tf.softmax(li))).dataSync()[0];
        expect(gIn).toBeLessThan(0);
      }
      tf.dispose([li, lo, value, ...Object.values(grads)]);
      disposeDiscriminationParams(p);
    }
  });

  it('returns monitoring values without gradient and leaks no tensors', () => {
    const p = createDiscriminationParams(3, 'jsd');
    const before = tf.memory().numTensors;
    const r = discriminationLoss(IN, OUT, p);
    expect(tf.memory().numTensors).toBe(before + 6);
    expect(num(r.meanEnergyIn)).toBeCloseTo(energies(IN).reduce((a, b) => a + b) / 3, 5);
    expect(num(r.meanEnergyOut)).toBeCloseTo(energies(OUT).reduce((a, b) => a + b) / 4, 5);
    Array.from(r.energyIn.dataSync()).forEach((e, i) => expect(e).toBeCloseTo(energies(IN)[i], 5));
    Array.from(r.energyOut.dataSync()).forEach((e, i) => expect(e).toBeCloseTo(energies(OUT)[i], 5));
    tf.dispose([r.loss, r.jsd, r.meanEnergyIn, r.meanEnergyOut, r.energyIn, r.energyOut]);
    disposeDiscriminationParams(p);
  });

  it('refuses unknown losses and missing parameters', () => {
    expect(() => createDiscriminationParams(3, 'hinge' as DiscriminationLoss)).toThrow(/unknown discrimination loss "hinge"/);
    const p = createDiscriminationParams(3, 'jsd');
    expect(() => discriminationLoss(IN, OUT, p, { loss: 'ce' })).toThrow(/needs params/);
    expect(() => discriminationLoss(IN, OUT, p, { loss: 'nce', temperature: 0 })).toThrow(/temperature/);
    disposeDiscriminationParams(p);
  });
});
