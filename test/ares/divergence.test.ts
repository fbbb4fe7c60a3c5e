import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DIVERGENCE, MOMENT_MATCHED_FORMS, createEnergyWeights, divergenceLoss, divergenceTerm, energy, gaussianJsd, gaussianJsdValue,
} from '../../src/ares/divergence.js';
import { DIVERGENCE_FORMS, type DivergenceForm } from '../../src/methods/config.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

const num = (t: tf.Tensor) => t.dataSync()[0];
const normPdf = (x: number, m: number, v: number) => Math.exp(-((x - m) ** 2) / (2 * v)) / Math.sqrt(2 * Math.PI * v);

/** KL(P‖M) by the trapezoid rule on a fine grid. */
function klNumeric(mP: number, vP: number, mM: number, vM: number): number {
  const lo = Math.min(mP, mM) - 12 * Math.sqrt(Math.max(vP, vM)), hi = Math.max(mP, mM) + 12 * Math.sqrt(Math.max(vP, vM));
  const n = 200000, dx = (hi - lo) / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const x = lo + i * dx;
    const p = normPdf(x, mP, vP), m = normPdf(x, mM, vM);
    const f = p > 0 ? p * Math.log(p / m) : 0;
    s += (i === 0 || i === n ? 0.5 : 1) * f;
  }
  return s * dx;
}

describe('energy (Eq. 12)', () => {
  it('equals −logsumexp(f) when every w = 1', () => {
    const f = [[1, 2, 3], [-5, 0.5, 4], [0, 0, 0]];
    const e = energy(tf.tensor2d(f), tf.ones([3]) as tf.Tensor1D).arraySync();
    f.forEach((row, i) => expect(e[i]).toBeCloseTo(-Math.log(row.reduce((s, v) => s + Math.exp(v), 0)), 5));
  });

  it('weights each class: −log Σ relu(w_k) exp(f_k); w_k ≤ 0 drops class k (floored, finite)', () => {
    const f = [[1, 2, 3]], w = [0.5, 2, 0];
    const e = num(energy(tf.tensor2d(f), tf.tensor1d(w)));
    expect(e).toBeCloseTo(-Math.log(0.5 * Math.exp(1) + 2 * Math.exp(2)), 5);
    const allZero = num(energy(tf.tensor2d(f), tf.tensor1d([0, -1, 0])));
    expect(Number.isFinite(allZero)).toBe(true);
    expect(allZero).toBeCloseTo(-Math.log(1e-8 * (Math.exp(1) + Math.exp(2) + Math.exp(3))), 3);
  });

  it('does not overflow at logits of ±1e4', () => {
    const e = energy(tf.tensor2d([[1e4, -1e4, 0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]]), tf.ones([3]) as tf.Tensor1D).arraySync();
    expect(e.every(Number.isFinite)).toBe(true);
    expect(e[0]).toBeCloseTo(-1e4, 0);
    expect(e[1]).toBeCloseTo(1e4 - Math.log(3), 0);
    expect(e[2]).toBeCloseTo(-1e4 - Math.log(3), 0);
    const w = createEnergyWeights(3);
    const g = tf.variableGrads(() => tf.sum(energy(tf.tensor2d([[1e4, -1e4, 0]]), w)) as tf.Scalar, [w]).grads[w.name];
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    w.dispose();
  });

  it('rejects a weight vector of the wrong length', () => {
    expect(() => energy(tf.zeros([2, 3]) as tf.Tensor2D, tf.ones([4]) as tf.Tensor1D)).toThrow(/3 logits per row but 4 weights/);
  });
});

describe('Gaussian JSD (Eq. 8–11, moment-matched M)', () => {
  const cases = [
    { p: { mean: 0, variance: 1 }, q: { mean: 1, variance: 1 } },
    { p: { mean: -3, variance: 0.25 }, q: { mean: 2, variance: 4 } },
    { p: { mean: 5, variance: 2 }, q: { mean: 5.1, variance: 0.3 } },
  ];

  it('the closed form matches numerical integration of KL(P‖M) and KL(Q‖M) for the same Gaussians', () => {
    for (const { p, q } of cases) {
      const mM = (p.mean + q.mean) / 2, vM = (p.variance + q.variance) / 2 + (p.mean - q.mean) ** 2 / 4;
      const numeric = 0.5 * (klNumeric(p.mean, p.variance, mM, vM) + klNumeric(q.mean, q.variance, mM, vM));
      expect(gaussianJsdValue(p, q)).toBeCloseTo(numeric, 6);
    }
  });

  it('the tensor version fits P and Q to the energies (1/B variance) and agrees with the closed form', () => {
    const eIn = [1, 2, 3, 4], eOut = [5, 7, 6, 10, 2];
    const fit = (e: number[]) => {
      const m = e.reduce((s, v) => s + v, 0) / e.length;
      return { mean: m, variance: e.reduce((s, v) => s + (v - m) ** 2, 0) / e.length + DEFAULT_DIVERGENCE.varFloor };
    };
    expect(num(gaussianJsd(tf.tensor1d(eIn), tf.tensor1d(eOut)))).toBeCloseTo(gaussianJsdValue(fit(eIn), fit(eOut)), 5);
  });

  it('is zero for identical inputs, symmetric, and grows with separation', () => {
    const e = tf.tensor1d([0.3, -1, 2, 0.7]);
    expect(num(gaussianJsd(e, e))).toBeCloseTo(0, 7);
    const a = tf.tensor1d([1, 2, 2.5, 0.5]), b = tf.tensor1d([3, 5, 4, 6, 4.5]);
    expect(num(gaussianJsd(a, b))).toBeCloseTo(num(gaussianJsd(b, a)), 6);
    let last = 0;
    for (const shift of [0.5, 1, 2, 4]) {
      const j = num(gaussianJsd(a, tf.add(a, shift) as tf.Tensor1D));
      expect(j).toBeGreaterThan(last);
      last = j;
    }
    for (const { p, q } of cases) expect(gaussianJsdValue(p, q)).toBeCloseTo(gaussianJsdValue(q, p), 12);
  });

  it('unlike the exact JSD (≤ ln 2), the moment-matched form keeps growing, like log of the separation', () => {
    const far = gaussianJsdValue({ mean: 0, variance: 1 }, { mean: 100, variance: 1 });
    expect(far).toBeGreaterThan(Math.log(2));
    expect(far).toBeCloseTo(0.5 * Math.log(2501), 2); // ½ log(σM²/σ²) dominates; the other terms cancel
  });
});

describe('divergence loss forms', () => {
  /** Loss and gradients w.r.t. w and the logits for one form. */
  function gradsFor(form: DivergenceForm, inLogits: number[][], outLogits: number[][]) {
    const w = createEnergyWeights(3);
    const li = tf.variable(tf.tensor2d(inLogits)), lo = tf.variable(tf.tensor2d(outLogits));
    const { value, grads } = tf.variableGrads(() => {
      return divergenceTerm(energy(li as unknown as tf.Tensor2D, w), energy(lo as unknown as tf.Tensor2D, w), { form });
    }, [w, li, lo]);
    const out = {
      value: num(value),
      gw: Array.from(grads[w.name].dataSync()),
      gIn: Array.from(grads[li.name].dataSync()),
      gOut: Array.from(grads[lo.name].dataSync()),
    };
    tf.dispose([w, li, lo, value, ...Object.values(grads)]);
    return out;
  }
  const IN = [[3, 0, -1], [2.5, 0.2, 0], [1, 1, 4], [0, 3.5, 0.5]];
  const OUT = [[0.3, 0.1, 0.2], [0.1, 0.5, -0.2], [0.9, 0.4, 0.1], [-0.3, 0.2, 0.6]];

  it('every form but detached sends a non-zero gradient into w and both inputs; detached sends none', () => {
    for (const form of DIVERGENCE_FORMS.filter((f) => f !== 'detached')) {
      const g = gradsFor(form, IN, OUT);
      for (const part of [g.gw, g.gIn, g.gOut]) {
        expect(part.every(Number.isFinite)).toBe(true);
        expect(part.some((v) => Math.abs(v) > 1e-6)).toBe(true);
      }
    }
    const d = gradsFor('detached', IN, OUT);
    expect(d.value).toBeCloseTo(gradsFor('reciprocal', IN, OUT).value, 6);
    for (const part of [d.gw, d.gIn, d.gOut]) expect(part.every((v) => v === 0)).toBe(true);
  });

  it('values: reciprocal = β/(JSD + ε) capped at clip, linear = −β·JSD', () => {
    const j = tf.scalar(0.3);
    expect(num(divergenceLoss(j, { form: 'reciprocal', beta: 0.1, eps: 0.01 }))).toBeCloseTo(0.1 / 0.31, 6);
    expect(num(divergenceLoss(j, { form: 'linear', beta: 0.1 }))).toBeCloseTo(-0.03, 6);
    expect(num(divergenceLoss(tf.scalar(0), { form: 'reciprocal', beta: 1, eps: 1e-6, clip: 5 }))).toBe(5);
    // Rounding below zero and non-finite JSD values are neutralised.
    expect(num(divergenceLoss(tf.scalar(-1e-9), { form: 'reciprocal', beta: 0.1, eps: 0.01 }))).toBeCloseTo(10, 4);
    for (const form of MOMENT_MATCHED_FORMS) {
      expect(Number.isFinite(num(divergenceLoss(tf.scalar(NaN), { form })))).toBe(true);
      expect(Number.isFinite(num(divergenceLoss(tf.scalar(Infinity), { form })))).toBe(true);
    }
  });

  it('no NaN anywhere when all energies are equal (σ = 0) or inputs are identical', () => {
    const same = [[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]];
    for (const form of DIVERGENCE_FORMS) {
      for (const [a, b] of [[same, same], [same, OUT]]) {
        const g = gradsFor(form, a, b);
        expect(Number.isFinite(g.value)).toBe(true);
        for (const part of [g.gw, g.gIn, g.gOut]) expect(part.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('rejects unusable settings with a clear message', () => {
    const j = tf.scalar(0.1);
    expect(() => divergenceLoss(j, { form: 'square' as DivergenceForm })).toThrow(/unknown divergence form "square"/);
    expect(() => divergenceLoss(j, { eps: 0 })).toThrow(/eps must be > 0/);
    expect(() => divergenceLoss(j, { beta: -1 })).toThrow(/beta/);
    expect(() => divergenceLoss(j, { form: 'jsd' })).toThrow(/needs the energies/);
  });
});
