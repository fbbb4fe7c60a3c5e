import { describe, expect, it } from 'vitest';
import { chooseByFolds, foldPairs, spearman } from '../../src/pipeline/fold-rule.js';
import type { CellResult } from '../../src/pipeline/benchmark.js';

/** A fold cell whose fold set has these FPR95s (fractions) per score. */
function cell(label: string, seed: number, fold: number, fpr: Record<string, number>): Pick<CellResult, 'label' | 'seed' | 'metrics'> {
  const validationRows = [
    // A far validation set the rule must ignore.
    ...Object.keys(fpr).map((score) => ({ ood: 'blobs:train', score, fpr95: 0, auroc: 1, aupr_in: 1, aupr_out: 1 })),
    ...Object.entries(fpr).map(([score, v]) => ({ ood: `fashion-mnist:fold class ${fold} (x)`, score, fpr95: v, auroc: 0.5, aupr_in: 0.5, aupr_out: 0.5 })),
  ];
  return { label, seed, metrics: { idAccuracy: 0.9, rows: [], validationRows } };
}

describe('retrained-fold choice', () => {
  it('averages folds within a seed, then seeds, per (method, score), ignoring other validation sets', () => {
    const pairs = foldPairs([
      cell('CE / fold 0', 0, 0, { energy: 0.8, vim: 0.6 }),
      cell('CE / fold 1', 0, 1, { energy: 0.6, vim: 0.4 }),
      cell('CE / fold 0', 1, 0, { energy: 0.5, vim: 0.3 }),
      cell('CE / fold 1', 1, 1, { energy: 0.5, vim: 0.5 }),
    ]);
    expect(pairs.map((p) => [p.method, p.score, p.seeds])).toEqual([['CE', 'energy', 2], ['CE', 'vim', 2]]);
    // energy: seed 0 mean 70, seed 1 mean 50 -> 60; per fold: fold 0 (80 + 50) / 2, fold 1 (60 + 50) / 2.
    expect(pairs[0].foldFpr).toBeCloseTo(60, 10);
    expect(pairs[0].perFold[0]).toBeCloseTo(65, 10);
    expect(pairs[0].perFold[1]).toBeCloseTo(55, 10);
    expect(pairs[1].foldFpr).toBeCloseTo(45, 10);
  });

  it('picks the lowest mean; within 0.5 points the earlier score, then the earlier method', () => {
    const cells = [
      cell('CE / fold 0', 0, 0, { energy: 0.600, vim: 0.500 }),
      cell('CE / fold 1', 0, 1, { energy: 0.600, vim: 0.500 }),
      cell('Rotation / fold 0', 0, 0, { energy: 0.503, vim: 0.498 }),
      cell('Rotation / fold 1', 0, 1, { energy: 0.503, vim: 0.498 }),
    ];
    const pairs = foldPairs(cells);
    // Best: Rotation + vim 49.8; in the band: CE + vim 50.0 and Rotation + energy 50.3. energy comes first.
    expect(chooseByFolds(pairs, ['energy', 'vim'])).toMatchObject({ method: 'Rotation', score: 'energy' });
    // With vim first in the order, CE (the earlier method) wins among the vim pairs.
    expect(chooseByFolds(pairs, ['vim', 'energy'])).toMatchObject({ method: 'CE', score: 'vim' });
    // No band: the lowest.
    expect(chooseByFolds(pairs, ['energy', 'vim'], 0)).toMatchObject({ method: 'Rotation', score: 'vim' });
  });

  it('leaves out a method measured on fewer folds, and unfinished cells; refuses a label without a fold', () => {
    const pairs = foldPairs([
      cell('CE / fold 0', 0, 0, { vim: 0.5 }),
      cell('CE / fold 1', 0, 1, { vim: 0.5 }),
      cell('Rotation / fold 0', 0, 0, { vim: 0.1 }),
      { label: 'Rotation / fold 1', seed: 0, metrics: null as never },
    ]);
    expect(chooseByFolds(pairs, ['vim'])).toMatchObject({ method: 'CE', score: 'vim' });
    expect(chooseByFolds([], ['vim'])).toBeNull();
    expect(() => foldPairs([cell('CE', 0, 0, { vim: 0.5 })])).toThrow(/not labelled "<method> \/ fold <c>"/);
  });

  it('Spearman: 1 for the same order, -1 reversed, mean ranks for ties, NaN when undefined', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // Ranks x: 0, 1.5, 1.5, 3; y: 0, 1, 2, 3 -> Pearson of the ranks.
    expect(spearman([1, 2, 2, 3], [1, 2, 3, 4])).toBeCloseTo(4.5 / Math.sqrt(4.5 * 5), 12);
    expect(spearman([1], [1])).toBeNaN();
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});
