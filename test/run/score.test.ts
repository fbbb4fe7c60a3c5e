import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { accepts, argmax, energyScore, mspScore, scoreLogits, softmax } from '../../src/run/score.js';

const naiveLse = (f: number[], w?: number[]) => Math.log(f.reduce((s, v, k) => s + (w ? Math.max(0, w[k]) : 1) * Math.exp(v), 0));

describe('score math (higher = more in-distribution)', () => {
  it('energy score is logsumexp, and Σ relu(w_k) exp(f_k) with weights', () => {
    expect(energyScore([1, 2, 3])).toBeCloseTo(naiveLse([1, 2, 3]), 12);
    expect(energyScore([1, 2, 3], [0.5, 2, 1])).toBeCloseTo(naiveLse([1, 2, 3], [0.5, 2, 1]), 12);
    // relu: a negative weight removes its class entirely.
    expect(energyScore([1, 2, 3], [1, -4, 1])).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(3)), 12);
    // Only zero-weight classes may hold the largest logit: the shift must come from contributing ones.
    expect(energyScore([1000, 0], [0, 1])).toBeCloseTo(0, 12);
    expect(energyScore([1, 2], [0, 0])).toBe(-Infinity);
  });

  it('is stable where the naive formula overflows or underflows', () => {
    expect(energyScore([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 9);
    expect(energyScore([-1000, -1000])).toBeCloseTo(-1000 + Math.log(2), 9);
    expect(mspScore([1000, 0, 0])).toBe(1);
  });

  it('agrees with the naive formula on moderate random logits', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 1, maxLength: 12 }), (f) => {
      expect(energyScore(f)).toBeCloseTo(naiveLse(f), 9);
      const p = softmax(f);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(mspScore(f)).toBeCloseTo(p[argmax(f)], 12);
    }), { numRuns: 200 });
  });

  it('scores rows of a matrix and accepts iff score ≥ γ', () => {
    const s = scoreLogits(new Float32Array([0, 0, 5, 0]), 2, { name: 'energy', weights: null });
    expect(Array.from(s)).toEqual([Math.log(2), 5 + Math.log(1 + Math.exp(-5))].map((v) => expect.closeTo(v, 6)));
    expect(Array.from(scoreLogits([0, 0], 2, { name: 'msp' }))).toEqual([0.5]);
    expect(accepts(1, 1)).toBe(true);
    expect(accepts(0.999, 1)).toBe(false);
    expect(argmax([1, 3, 3])).toBe(1);
  });
});
