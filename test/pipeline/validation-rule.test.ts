import { describe, expect, it } from 'vitest';
import { applyValidationRule, type Candidate } from '../../src/pipeline/validation-rule.js';

const seed = (s: number, fpr: number[], acc: number, inMean: number | null = -8, outMean: number | null = -5) =>
  ({ seed: s, valFpr: fpr, valAccuracy: acc, inMean, outMean });

describe('validation selection rule', () => {
  it('picks the lowest mean validation FPR95, averaged over sets then seeds', () => {
    const c: Candidate[] = [
      { label: 'a', seeds: [seed(0, [0.2, 0.4], 0.9), seed(1, [0.2, 0.2], 0.9)] }, // 0.25
      { label: 'b', seeds: [seed(0, [0.1, 0.1], 0.9), seed(1, [0.1, 0.3], 0.9)] }, // 0.15
    ];
    const r = applyValidationRule(c);
    expect(r.rows.map((x) => x.meanValFpr)).toEqual([0.25, 0.15].map((v) => expect.closeTo(v, 12)));
    expect(r.winner).toBe('b');
  });

  it('gives a tie (within 0.5 pt) to the earlier, simpler candidate', () => {
    const c: Candidate[] = [
      { label: 'simple', seeds: [seed(0, [0.104], 0.9)] },
      { label: 'complex', seeds: [seed(0, [0.1], 0.9)] },
    ];
    expect(applyValidationRule(c).winner).toBe('simple');
    c[0].seeds[0].valFpr = [0.106];
    expect(applyValidationRule(c).winner).toBe('complex');
  });

  it('excludes a candidate more than 1 pt below the best val accuracy', () => {
    const c: Candidate[] = [
      { label: 'low-acc', seeds: [seed(0, [0.01], 0.88)] },
      { label: 'ok', seeds: [seed(0, [0.2], 0.895)] },
      { label: 'best', seeds: [seed(0, [0.3], 0.9)] },
    ];
    const r = applyValidationRule(c);
    expect(r.rows[0].excluded).toMatch(/val accuracy/);
    expect(r.rows[1].excluded).toBeNull();
    expect(r.winner).toBe('ok');
  });

  it('excludes a candidate whose outliers end below the inliers in any seed', () => {
    const c: Candidate[] = [
      { label: 'wrong-way', seeds: [seed(0, [0.01], 0.9), seed(1, [0.01], 0.9, -5, -6)] },
      { label: 'right-way', seeds: [seed(0, [0.2], 0.9), seed(1, [0.2], 0.9)] },
    ];
    const r = applyValidationRule(c);
    expect(r.rows[0].wrongOrderSeeds).toEqual([1]);
    expect(r.rows[0].excluded).toMatch(/seed 1/);
    expect(r.winner).toBe('right-way');
  });

  it('returns no winner when every candidate is out', () => {
    const r = applyValidationRule([{ label: 'x', seeds: [seed(0, [0.1], 0.9, null, null)] }]);
    expect(r.winner).toBeNull();
  });
});
