import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  accuracy, argmaxRows, auprIn, auprOut, auroc, averagePrecision, formatMeanStd, fprAtTpr, meanStd, oodMetrics,
  rocCurve, thresholdAtTpr,
} from '../../src/metrics/index.js';
import { AresError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

// The running example, with ties inside ID, inside OOD and across the two.
const ID = [1, 2, 2, 3];
const OOD = [2, 0, 1, 2];

describe('hand-computed case with ties: id = [1,2,2,3], ood = [2,0,1,2]', () => {
  it('FPR95, paper convention: γ = 1 (all 4 ID needed), OOD >= 1 are 3 of 4', () => {
    expect(fprAtTpr(ID, OOD)).toEqual({ fpr: 0.75, threshold: 1, tprReached: 1 });
    expect(thresholdAtTpr(ID)).toBe(1);
  });
  it('FPR at TPR 50%, paper: γ = 2 accepts 3 ID (ties), OOD >= 2 are 2 of 4', () => {
    expect(fprAtTpr(ID, OOD, { tpr: 0.5 })).toEqual({ fpr: 0.5, threshold: 2, tprReached: 0.75 });
    expect(thresholdAtTpr(ID, 0.5)).toBe(2);
  });
  it('FPR95, OpenOOD convention: τ = 2 flags all OOD, ID <= 2 are 3 of 4', () => {
    expect(fprAtTpr(ID, OOD, { convention: 'openood' })).toEqual({ fpr: 0.75, threshold: 2, tprReached: 1 });
  });
  it('FPR at TPR 50%, OpenOOD: τ = 1 flags 2 OOD, ID <= 1 is 1 of 4', () => {
    expect(fprAtTpr(ID, OOD, { tpr: 0.5, convention: 'openood' })).toEqual({ fpr: 0.25, threshold: 1, tprReached: 0.5 });
  });
  it('AUROC = (1.5 + 3 + 3 + 4) / 16 with ties counted half', () => {
    expect(auroc(ID, OOD)).toBe(11.5 / 16);
  });
  it('AUPR-In = 1/4·1 + 2/4·3/5 + 1/4·4/7 (tie groups enter together)', () => {
    expect(auprIn(ID, OOD)).toBeCloseTo(97 / 140, 14);
  });
  it('AUPR-Out = 1/4·1 + 1/4·2/3 + 2/4·4/7', () => {
    expect(auprOut(ID, OOD)).toBeCloseTo(59 / 84, 14);
  });
  it('ROC points, and their trapezoid area is the AUROC', () => {
    const pts = rocCurve(ID, OOD).map(({ fpr, tpr }) => [fpr, tpr]);
    expect(pts).toEqual([[0, 0], [0, 0.25], [0.5, 0.75], [0.75, 1], [1, 1]]);
    expect(trapezoid(rocCurve(ID, OOD))).toBe(auroc(ID, OOD));
  });
  it('oodMetrics gathers them', () => {
    const m = oodMetrics(ID, OOD);
    expect(m).toMatchObject({ fpr: 0.75, tpr: 0.95, convention: 'paper', auroc: 11.5 / 16, nId: 4, nOod: 4 });
  });
});

describe('reference cases', () => {
  it('perfect separation: AUROC 1, FPR 0, AUPR 1 in both conventions', () => {
    const id = [5, 6, 7, 8], ood = [1, 2, 3, 4.9];
    expect(auroc(id, ood)).toBe(1);
    expect(fprAtTpr(id, ood).fpr).toBe(0);
    expect(fprAtTpr(id, ood, { convention: 'openood' }).fpr).toBe(0);
    expect(auprIn(id, ood)).toBe(1);
    expect(auprOut(id, ood)).toBe(1);
  });
  it('reversed separation: AUROC 0, FPR 1', () => {
    expect(auroc([1, 2], [3, 4])).toBe(0);
    expect(fprAtTpr([1, 2], [3, 4]).fpr).toBe(1);
  });
  it('identical lists give AUROC exactly 0.5; identical distributions about 0.5 and FPR95 about 0.95', () => {
    const rng = new Rng(7);
    const a = Array.from({ length: 4000 }, () => rng.normal());
    const b = Array.from({ length: 4000 }, () => rng.normal());
    expect(auroc(a, a)).toBe(0.5);
    expect(auroc([3, 3, 3], [3, 3])).toBe(0.5);
    expect(Math.abs(auroc(a, b) - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(fprAtTpr(a, b).fpr - 0.95)).toBeLessThan(0.02);
    expect(Math.abs(auprIn(a, b) - 0.5)).toBeLessThan(0.03);
  });
  it('0.95·n rounding: with 20 ID samples, 19 suffice (19/20 = 0.95 exactly)', () => {
    const id = Array.from({ length: 20 }, (_, i) => i);
    expect(thresholdAtTpr(id)).toBe(1);
    expect(fprAtTpr(id, [0.5, 1, 30]).tprReached).toBe(0.95);
  });
  it('AP of a known PR curve: pos [3, 1], neg [2] -> 1/2·1 + 1/2·2/3', () => {
    expect(averagePrecision([3, 1], [2])).toBeCloseTo(0.5 + 1 / 3, 15);
  });
  it('infinite scores order correctly', () => {
    expect(auroc([Infinity, 1], [-Infinity, 1])).toBe(0.875);
  });
});

describe('against brute-force definitions (random lists with many ties)', () => {
  const scores = fc.array(fc.integer({ min: -4, max: 4 }), { minLength: 1, maxLength: 25 });
  const rate = fc.constantFrom(0.05, 0.3, 0.5, 0.8, 0.95, 1);
  it('FPR (both conventions), AUROC, AUPR-In/Out', () => {
    fc.assert(fc.property(scores, scores, rate, (id, ood, tpr) => {
      expect(fprAtTpr(id, ood, { tpr }).fpr).toBe(bruteFprPaper(id, ood, tpr));
      expect(fprAtTpr(id, ood, { tpr, convention: 'openood' }).fpr).toBe(bruteFprOpenood(id, ood, tpr));
      expect(auroc(id, ood)).toBe(bruteAuroc(id, ood));
      expect(auprIn(id, ood)).toBeCloseTo(bruteAp(id, ood), 12);
      expect(auprOut(id, ood)).toBeCloseTo(bruteAp(ood.map((v) => -v), id.map((v) => -v)), 12);
      expect(trapezoid(rocCurve(id, ood))).toBeCloseTo(auroc(id, ood), 12);
    }), { numRuns: 300 });
  });
  it('the two FPR conventions are mirror images: openood(id, ood) = paper(-ood, -id)', () => {
    fc.assert(fc.property(scores, scores, rate, (id, ood, tpr) => {
      const openood = fprAtTpr(id, ood, { tpr, convention: 'openood' });
      const paper = fprAtTpr(ood.map((v) => -v), id.map((v) => -v), { tpr });
      expect(openood.fpr).toBe(paper.fpr);
      expect(openood.threshold).toBe(-paper.threshold);
    }), { numRuns: 300 });
  });
  it('the conventions differ in general: on the hand case at TPR 50%, 0.5 vs 0.25', () => {
    expect(fprAtTpr(ID, OOD, { tpr: 0.5 }).fpr).not.toBe(fprAtTpr(ID, OOD, { tpr: 0.5, convention: 'openood' }).fpr);
  });
});

describe('ROC curve thinning (for drawing only)', () => {
  it('keeps the end points, stays monotone and near maxPoints', () => {
    const rng = new Rng(3);
    const id = Array.from({ length: 5000 }, () => rng.normal() + 1);
    const ood = Array.from({ length: 5000 }, () => rng.normal());
    const full = rocCurve(id, ood);
    const thin = rocCurve(id, ood, { maxPoints: 100 });
    expect(full.length).toBeGreaterThan(9000);
    expect(thin.length).toBeLessThanOrEqual(101);
    expect(thin.length).toBeGreaterThan(50);
    expect(thin[0]).toEqual(full[0]);
    expect(thin[thin.length - 1]).toEqual(full[full.length - 1]);
    for (let k = 1; k < thin.length; k++) {
      expect(thin[k].fpr).toBeGreaterThanOrEqual(thin[k - 1].fpr);
      expect(thin[k].tpr).toBeGreaterThanOrEqual(thin[k - 1].tpr);
    }
    expect(Math.abs(trapezoid(thin) - auroc(id, ood))).toBeLessThan(0.01);
  });
});

describe('bad input', () => {
  it('rejects empty lists, NaN and a rate outside (0, 1]', () => {
    expect(() => auroc([], [1])).toThrow(/ID scores: no scores/);
    expect(() => auroc([1], [NaN])).toThrow(/OOD scores: score 0 is NaN/);
    expect(() => auprOut([1, NaN], [1])).toThrow(/ID scores: score 1 is NaN/);
    expect(() => fprAtTpr([1], [1], { tpr: 0 })).toThrow(AresError);
    expect(() => thresholdAtTpr([1], 1.5)).toThrow(/tpr must be in/);
  });
});

describe('accuracy and mean ± std', () => {
  it('argmax takes the first maximum; accuracy counts matches', () => {
    expect(Array.from(argmaxRows([1, 3, 3, 0, 0, -1], 3))).toEqual([1, 0]);
    expect(accuracy([1, 0, 2], [1, 1, 2])).toBeCloseTo(2 / 3, 15);
    expect(() => accuracy([1], [1, 2])).toThrow(AresError);
  });
  it('sample std with n - 1; one value has no spread (NaN)', () => {
    const m = meanStd([1, 2, 3, 4]);
    expect(m.mean).toBe(2.5);
    expect(m.std).toBeCloseTo(Math.sqrt(5 / 3), 15);
    expect(meanStd([0.5]).std).toBeNaN();
    expect(formatMeanStd(meanStd([0.1, 0.2]), 1, 100)).toBe('15.0 ± 7.1');
    expect(formatMeanStd(meanStd([0.1]), 1, 100)).toBe('10.0 (1 run)');
    expect(() => meanStd([])).toThrow(AresError);
  });
});

function trapezoid(points: { fpr: number; tpr: number }[]): number {
  let area = 0;
  for (let k = 1; k < points.length; k++) area += (points[k].fpr - points[k - 1].fpr) * (points[k].tpr + points[k - 1].tpr) / 2;
  return area;
}

// Brute-force definitions, straight from the documented rules (no sorting tricks).
function bruteFprPaper(id: number[], ood: number[], tpr: number): number {
  const ok = id.filter((t) => id.filter((v) => v >= t).length / id.length >= tpr);
  const t = Math.max(...ok);
  return ood.filter((v) => v >= t).length / ood.length;
}
function bruteFprOpenood(id: number[], ood: number[], tpr: number): number {
  const ok = ood.filter((t) => ood.filter((v) => v <= t).length / ood.length >= tpr);
  const t = Math.min(...ok);
  return id.filter((v) => v <= t).length / id.length;
}
function bruteAuroc(id: number[], ood: number[]): number {
  let s = 0;
  for (const a of id) for (const b of ood) s += a > b ? 1 : a === b ? 0.5 : 0;
  return s / (id.length * ood.length);
}
function bruteAp(pos: number[], neg: number[]): number {
  const values = [...new Set([...pos, ...neg])].sort((a, b) => b - a);
  let ap = 0, prevRecall = 0;
  for (const t of values) {
    const tp = pos.filter((v) => v >= t).length;
    const fp = neg.filter((v) => v >= t).length;
    const recall = tp / pos.length;
    if (tp > 0) ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}
