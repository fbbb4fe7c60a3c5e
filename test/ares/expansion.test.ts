import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FeaturePool, applyMixup, mixupFeatures, mixupPlan } from '../../src/ares/expansion.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Direct two-pass mean and 1/N covariance of rows. */
function directMoments(rows: number[][]) {
  const n = rows.length, d = rows[0].length;
  const mean = Array.from({ length: d }, (_, i) => rows.reduce((s, r) => s + r[i], 0) / n);
  const cov = Array.from({ length: d * d }, (_, k) => {
    const i = Math.floor(k / d), j = k % d;
    return rows.reduce((s, r) => s + (r[i] - mean[i]) * (r[j] - mean[j]), 0) / n;
  });
  return { mean, cov };
}

describe('feature mixup (Expansion)', () => {
  it('each mixed row is λ·h_i + (1 − λ)·h_π(i) with λ in [0, 1]: inside the segment between its two sources', () => {
    const rng = new Rng(3);
    const b = 16, d = 6;
    const data = Float32Array.from({ length: b * d }, () => rng.normal() * 3);
    const h = tf.tensor2d(data, [b, d]);
    const plan = mixupPlan(b, new Rng(9));
    const mixed = applyMixup(h, plan).arraySync();
    expect(Array.from(plan.partner).sort((p, q) => p - q)).toEqual(Array.from({ length: b }, (_, i) => i));
    for (let i = 0; i < b; i++) {
      const lam = plan.lambda[i];
      expect(lam).toBeGreaterThanOrEqual(0);
      expect(lam).toBeLessThanOrEqual(1);
      const j = plan.partner[i];
      for (let k = 0; k < d; k++) {
        const a = data[i * d + k], c = data[j * d + k];
        expect(mixed[i][k]).toBeCloseTo(lam * a + (1 - lam) * c, 4);
        expect(mixed[i][k]).toBeGreaterThanOrEqual(Math.min(a, c) - 1e-5);
        expect(mixed[i][k]).toBeLessThanOrEqual(Math.max(a, c) + 1e-5);
      }
    }
    h.dispose();
  });

  it('λ ~ Beta(2, 2): mean 1/2, variance 1/20', () => {
    const { lambda } = mixupPlan(20000, new Rng(1));
    const mean = lambda.reduce((s, v) => s + v, 0) / lambda.length;
    const variance = lambda.reduce((s, v) => s + (v - mean) ** 2, 0) / lambda.length;
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(0.05, 2);
  });

  it('passes no gradient back to the features, is deterministic by seed, and leaks no tensors', () => {
    const h = tf.randomNormal([8, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const g = tf.grad((x: tf.Tensor) => tf.sum(mixupFeatures(x as tf.Tensor2D, new Rng(2))))(h);
    expect(Array.from(g.dataSync())).toEqual(new Array(32).fill(0));
    const before = tf.memory().numTensors;
    const a = mixupFeatures(h, new Rng(4)), b = mixupFeatures(h, new Rng(4));
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b, g, h]);
  });
});

describe('FeaturePool (FIFO of mixed features)', () => {
  it('keeps the last M vectors in insertion order through several wrap-arounds', () => {
    const pool = new FeaturePool(2, 5);
    const row = (i: number) => [i, -i];
    pool.add(Float32Array.from([0, 1, 2].flatMap(row)));
    expect(pool.size).toBe(3);
    expect(Array.from(pool.contents())).toEqual([0, 1, 2].flatMap(row));
    pool.add(Float32Array.from([3, 4, 5, 6].flatMap(row))); // wraps: 0, 1 evicted
    expect(pool.size).toBe(5);
    expect(Array.from(pool.contents())).toEqual([2, 3, 4, 5, 6].flatMap(row));
    expect(Array.from(pool.vector(0))).toEqual(row(2));
    expect(Array.from(pool.vector(4))).toEqual(row(6));
    pool.add(Float32Array.from([7, 8, 9, 10, 11, 12, 13].flatMap(row))); // more than M at once
    expect(Array.from(pool.contents())).toEqual([9, 10, 11, 12, 13].flatMap(row));
    expect(() => pool.vector(5)).toThrow(/out of range/);
  });

  it('running mean and covariance equal a direct computation, before and after wrap-around and exact recomputes', () => {
    const d = 5, m = 37;
    const pool = new FeaturePool(d, m);
    const rng = new Rng(6);
    const all: number[][] = [];
    for (let step = 0; step < 80; step++) {
      const n = 1 + rng.int(9);
      const rows = Array.from({ length: n }, () => Array.from({ length: d }, (_, k) => Math.fround(10 + k + rng.normal() * (k + 1))));
      all.push(...rows);
      pool.add(Float32Array.from(rows.flat()));
      const { mean, cov } = directMoments(all.slice(-m));
      const got = pool.moments();
      expect(got.count).toBe(Math.min(all.length, m));
      mean.forEach((v, i) => expect(got.mean[i]).toBeCloseTo(v, 9));
      cov.forEach((v, i) => expect(got.cov[i]).toBeCloseTo(v, 9));
    }
    expect(all.length).toBeGreaterThan(5 * m); // past the exact recompute at 4·M insertions
  });

  it('accepts tensors, rejects non-finite features and bad shapes', () => {
    const pool = new FeaturePool(3, 10);
    const t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    pool.add(t);
    t.dispose();
    expect(Array.from(pool.contents())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => pool.add(new Float32Array([1, NaN, 2]))).toThrow(/non-finite/);
    expect(() => pool.add(new Float32Array([1, 2]))).toThrow(/3-vectors/);
    expect(() => new FeaturePool(0)).toThrow(/dimension/);
    expect(() => new FeaturePool(3, 1)).toThrow(/size/);
    expect(() => new FeaturePool(3).moments()).toThrow(/empty/);
  });

  it('save/restore continues bit-identically (contents and moments)', () => {
    const rng = new Rng(8);
    const batch = () => Float32Array.from({ length: 4 * 3 }, () => rng.normal());
    const a = new FeaturePool(3, 10);
    for (let i = 0; i < 4; i++) a.add(batch()); // 16 added: wrapped once
    const b = FeaturePool.fromState(structuredClone(a.state()));
    expect(Array.from(b.contents())).toEqual(Array.from(a.contents()));
    for (let i = 0; i < 5; i++) { const x = batch(); a.add(x); b.add(x); }
    expect(Array.from(b.contents())).toEqual(Array.from(a.contents()));
    expect(Array.from(b.moments().cov)).toEqual(Array.from(a.moments().cov));
    expect(Array.from(b.moments().mean)).toEqual(Array.from(a.moments().mean));
    const bad = { ...a.state(), sum: new Float64Array(2) };
    expect(() => FeaturePool.fromState(bad)).toThrow(/inconsistent/);
  });
});
