/**
 * The bounded forms of the divergence stage against references computed independently here by
 * dense numerical integration of the two Gaussian densities (trapezoid rule, plain JS, float64):
 * values, and gradients with respect to every energy against central finite differences.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  directionalDivergence, directionalDivergenceValue, divergenceTerm, erf, exactEnergyJsd, gaussianJsdValue,
} from '../../src/ares/divergence.js';
import { exactGaussianJsd, exactGaussianJsdOnDevice, exactGaussianJsdValue } from '../../src/ares/jsd-quadrature.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

type G = { mean: number; variance: number };
const pdf = (x: number, g: G) => Math.exp(-((x - g.mean) ** 2) / (2 * g.variance)) / Math.sqrt(2 * Math.PI * g.variance);
const grid = (p: G, q: G, n: number) => {
  const s = Math.sqrt(Math.max(p.variance, q.variance));
  const lo = Math.min(p.mean, q.mean) - 14 * s, hi = Math.max(p.mean, q.mean) + 14 * s;
  return { lo, dx: (hi - lo) / n, n };
};

/** JSD by the trapezoid rule on a dense grid. */
function jsdNumeric(p: G, q: G, n = 100_000): number {
  const { lo, dx } = grid(p, q, n);
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const x = lo + i * dx, a = pdf(x, p), b = pdf(x, q), m = (a + b) / 2;
    const f = (a > 0 ? 0.5 * a * Math.log(a / m) : 0) + (b > 0 ? 0.5 * b * Math.log(b / m) : 0);
    s += (i === 0 || i === n ? 0.5 : 1) * f;
  }
  return s * dx;
}

/**
 * ln 2 · (2·P(Y > X) − 1), X ~ p, Y ~ q, by integrating p(x)·(1 − F_q(x)) with a cumulative
 * trapezoid, where the means are in the right order; the linear wrong-order piece otherwise.
 */
function directionalNumeric(p: G, q: G, n = 100_000, fixedScale?: number): number {
  const s = fixedScale ?? Math.sqrt(2 * (p.variance + q.variance));
  if (q.mean < p.mean) return Math.LN2 * (2 / Math.sqrt(Math.PI)) * (q.mean - p.mean) / s;
  return aucNumeric(p, q, n);
}

function aucNumeric(p: G, q: G, n: number): number {
  const { lo, dx } = grid(p, q, n);
  const qs = Array.from({ length: n + 1 }, (_, i) => pdf(lo + i * dx, q));
  let cdf = 0, s = 0;
  for (let i = 0; i <= n; i++) {
    if (i > 0) cdf += 0.5 * (qs[i - 1] + qs[i]) * dx;
    s += (i === 0 || i === n ? 0.5 : 1) * pdf(lo + i * dx, p) * (1 - cdf);
  }
  return Math.LN2 * (2 * s * dx - 1);
}

const fit = (e: number[], floor = 1e-4): G => {
  const m = e.reduce((a, b) => a + b, 0) / e.length;
  return { mean: m, variance: e.reduce((a, b) => a + (b - m) ** 2, 0) / e.length + floor };
};

/** Central finite differences of f over the concatenated energies. */
function fdGrad(f: (eIn: number[], eOut: number[]) => number, eIn: number[], eOut: number[], h = 1e-4): number[] {
  const all = [...eIn, ...eOut];
  return all.map((_, k) => {
    const at = (d: number) => { const v = all.slice(); v[k] += d; return f(v.slice(0, eIn.length), v.slice(eIn.length)); };
    return (at(h) - at(-h)) / (2 * h);
  });
}

function tfGrad(f: (a: tf.Tensor1D, b: tf.Tensor1D) => tf.Scalar, eIn: number[], eOut: number[]): { value: number; grad: number[] } {
  const a = tf.variable(tf.tensor1d(eIn)), b = tf.variable(tf.tensor1d(eOut));
  const { value, grads } = tf.variableGrads(() => f(a as unknown as tf.Tensor1D, b as unknown as tf.Tensor1D), [a, b]);
  const out = { value: value.dataSync()[0], grad: [...grads[a.name].dataSync(), ...grads[b.name].dataSync()] };
  tf.dispose([a, b, value, ...Object.values(grads)]);
  return out;
}

const CASES: [G, G][] = [
  [{ mean: 0, variance: 1 }, { mean: 0, variance: 1 }],
  [{ mean: 0, variance: 1 }, { mean: 1, variance: 1 }],
  [{ mean: -3, variance: 0.25 }, { mean: 2, variance: 4 }],
  [{ mean: 5, variance: 2 }, { mean: 5.1, variance: 0.3 }],
  [{ mean: 0, variance: 1 }, { mean: 0.5, variance: 100 }],
  [{ mean: -8, variance: 1.5 }, { mean: -2.9, variance: 3 }],
];

describe('exact Gaussian JSD (jsd form)', () => {
  it('matches dense numerical integration, in float64 and in tfjs (float32)', () => {
    for (const [p, q] of CASES) {
      const ref = jsdNumeric(p, q);
      expect(exactGaussianJsdValue(p, q)).toBeCloseTo(ref, 6);
      const t = exactGaussianJsd(tf.scalar(p.mean), tf.scalar(p.variance), tf.scalar(q.mean), tf.scalar(q.variance)).dataSync()[0];
      expect(t).toBeCloseTo(ref, 5);
    }
  });

  it('is bounded by ln 2 where the moment-matched form is not', () => {
    const p = { mean: 0, variance: 1 }, q = { mean: 100, variance: 1 };
    expect(exactGaussianJsdValue(p, q)).toBeCloseTo(Math.LN2, 6);
    expect(gaussianJsdValue(p, q)).toBeGreaterThan(2);
  });

  it('gradient w.r.t. every energy matches finite differences of the numerical reference', () => {
    const eIn = [-3.1, -2.5, -2.8, -1.9, -3.4], eOut = [-2.2, -1.1, -1.8, -2.6];
    const { value, grad } = tfGrad((a, b) => exactEnergyJsd(a, b), eIn, eOut);
    expect(value).toBeCloseTo(jsdNumeric(fit(eIn), fit(eOut)), 5);
    const ref = fdGrad((a, b) => jsdNumeric(fit(a), fit(b), 20_000), eIn, eOut);
    grad.forEach((g, k) => expect(g).toBeCloseTo(ref[k], 3));
    expect(ref.some((g) => Math.abs(g) > 1e-2)).toBe(true);
  });
});

describe('exact Gaussian JSD with the grid placed on the device (webgpu cannot read within a step)', () => {
  const onDevice = (a: tf.Tensor1D, b: tf.Tensor1D, floor = 1e-4) => tf.tidy(() => {
    const p = tf.moments(a), q = tf.moments(b);
    return exactGaussianJsdOnDevice(p.mean as tf.Scalar, tf.add(p.variance, floor) as tf.Scalar, q.mean as tf.Scalar, tf.add(q.variance, floor) as tf.Scalar);
  });

  it('matches dense numerical integration as the host-placed grid does', () => {
    for (const [p, q] of [...CASES, [{ mean: 0, variance: 1 }, { mean: 3, variance: 1e-3 }] as [G, G]]) {
      const t = exactGaussianJsdOnDevice(tf.scalar(p.mean), tf.scalar(p.variance), tf.scalar(q.mean), tf.scalar(q.variance)).dataSync()[0];
      expect(t).toBeCloseTo(jsdNumeric(p, q), 5);
    }
    expect(exactGaussianJsdOnDevice(tf.scalar(0), tf.scalar(1), tf.scalar(100), tf.scalar(1)).dataSync()[0]).toBeCloseTo(Math.LN2, 5);
    expect(exactGaussianJsdOnDevice(tf.scalar(0), tf.scalar(-1), tf.scalar(0), tf.scalar(1)).dataSync()[0]).toBeNaN();
  });

  it('gradient w.r.t. every energy matches finite differences of the numerical reference and the host grid\'s gradient', () => {
    const eIn = [-3.1, -2.5, -2.8, -1.9, -3.4], eOut = [-2.2, -1.1, -1.8, -2.6];
    const dev = tfGrad((a, b) => onDevice(a, b), eIn, eOut);
    const host = tfGrad((a, b) => exactEnergyJsd(a, b), eIn, eOut);
    expect(dev.value).toBeCloseTo(host.value, 6);
    const ref = fdGrad((a, b) => jsdNumeric(fit(a), fit(b), 20_000), eIn, eOut);
    dev.grad.forEach((g, k) => { expect(g).toBeCloseTo(ref[k], 3); expect(g).toBeCloseTo(host.grad[k], 4); });
  });
});

describe('directional divergence', () => {
  it('matches ln 2·(2·P(E_out > E_in) − 1) integrated numerically', () => {
    for (const [p, q] of CASES) {
      const ref = directionalNumeric(p, q);
      expect(directionalDivergenceValue(p, q)).toBeCloseTo(ref, 6);
      const eIn = [p.mean - Math.sqrt(p.variance), p.mean + Math.sqrt(p.variance)];
      const eOut = [q.mean - Math.sqrt(q.variance), q.mean + Math.sqrt(q.variance)]; // 1/B moments = (mean, variance)
      expect(directionalDivergence(tf.tensor1d(eIn), tf.tensor1d(eOut), 1e-12).dataSync()[0]).toBeCloseTo(ref, 5);
    }
  });

  it('gains at most ln 2, only from outliers above inliers; blind to a variance change at equal means', () => {
    expect(directionalDivergenceValue({ mean: 0, variance: 1 }, { mean: 50, variance: 1 })).toBeCloseTo(Math.LN2, 9);
    expect(Math.abs(directionalDivergenceValue({ mean: 1, variance: 1e-4 }, { mean: 1, variance: 1 }))).toBeLessThan(1e-7);
    // The wrong order costs linearly: no saturation, so no vanishing gradient there.
    const wrong = (gap: number) => directionalDivergenceValue({ mean: gap, variance: 1 }, { mean: 0, variance: 1 });
    expect(wrong(2) - wrong(4)).toBeCloseTo(wrong(4) - wrong(6), 9);
    expect(wrong(4)).toBeLessThan(-Math.LN2);
    // The moment-matched J rewards the same variance collapse (the fault this form removes).
    expect(gaussianJsdValue({ mean: 1, variance: 1e-4 }, { mean: 1, variance: 1 })).toBeGreaterThan(1.9);
  });

  it('gradient w.r.t. every energy matches finite differences of the numerical reference; far on the wrong side it still pulls the outliers up', () => {
    for (const [eIn, eOut] of [
      [[-3.1, -2.5, -2.8, -1.9, -3.4], [-8.2, -7.1, -7.8, -8.6]], // outliers on the wrong side, as after pretraining
      [[1, 2, 3], [1.6, 2.1, 2.5]], // near-equal means, right order
      [[1, 2, 3], [1.4, 1.9, 2.5]], // near-equal means, wrong order
    ]) {
      const { grad } = tfGrad((a, b) => directionalDivergence(a, b), eIn, eOut);
      // On the wrong side the scale is held fixed (no gradient): so in the reference too.
      const wrongOrder = fit(eOut).mean < fit(eIn).mean;
      const s0 = Math.sqrt(2 * (fit(eIn).variance + fit(eOut).variance));
      const ref = fdGrad((a, b) => directionalNumeric(fit(a), fit(b), 20_000, wrongOrder ? s0 : undefined), eIn, eOut);
      grad.forEach((g, k) => expect(g).toBeCloseTo(ref[k], 3));
      // Raising the outliers' energies raises the divergence.
      expect(grad.slice(eIn.length).reduce((s, g) => s + g, 0)).toBeGreaterThan(1e-3);
    }
  });

  it('erf matches a series to 1e-7', () => {
    const series = (x: number) => { let s = 0, term = x; for (let n = 0; n < 80; n++) { s += term / (2 * n + 1); term *= -x * x / (n + 1); } return 2 / Math.sqrt(Math.PI) * s; };
    for (const x of [-2.5, -1, -0.3, 0, 0.2, 0.9, 1.7, 3]) expect(Math.abs(erf(x) - series(x))).toBeLessThan(2e-7);
  });
});

describe('divergenceTerm for the bounded forms', () => {
  it('is −β times the divergence, finite with gradients even when every energy is equal', () => {
    const eIn = [1, 2, 3], eOut = [4, 4.5, 6];
    expect(divergenceTerm(tf.tensor1d(eIn), tf.tensor1d(eOut), { form: 'jsd', beta: 0.2 }).dataSync()[0])
      .toBeCloseTo(-0.2 * exactGaussianJsdValue(fit(eIn), fit(eOut)), 5);
    expect(divergenceTerm(tf.tensor1d(eIn), tf.tensor1d(eOut), { form: 'directional', beta: 0.2 }).dataSync()[0])
      .toBeCloseTo(-0.2 * directionalDivergenceValue(fit(eIn), fit(eOut)), 5);
    for (const form of ['jsd', 'directional'] as const) {
      const { value, grad } = tfGrad((a, b) => divergenceTerm(a, b, { form }), [2, 2, 2], [2, 2]);
      expect(Number.isFinite(value)).toBe(true);
      expect(grad.every(Number.isFinite)).toBe(true);
    }
  });
});
