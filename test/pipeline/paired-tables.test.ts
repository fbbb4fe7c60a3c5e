import { describe, expect, it } from 'vitest';
import { pairedDifference, tQuantile975, verdict } from '../../src/metrics/paired.js';
import { formatPaired, renderAblationPairedTable, renderPairedRowsTable, renderPairedTable, renderTables } from '../../src/pipeline/benchmark-tables.js';
import type { BenchmarkConfig, CellResult } from '../../src/pipeline/benchmark.js';
import type { RunMetrics } from '../../src/pipeline/run-folder.js';

const seeds = (xs: number[]) => new Map(xs.map((v, i) => [i, v]));

describe('paired differences with a 95% t-interval', () => {
  it('t quantiles: the table and the large-df approximation', () => {
    expect(tQuantile975(1)).toBeCloseTo(12.7062, 4);
    expect(tQuantile975(4)).toBeCloseTo(2.7764, 4);
    expect(tQuantile975(30)).toBeCloseTo(2.0423, 4);
    expect(tQuantile975(40)).toBeCloseTo(2.0211, 3);
    expect(tQuantile975(120)).toBeCloseTo(1.9799, 3);
    expect(() => tQuantile975(0)).toThrow(RangeError);
  });

  it('pairs by seed: mean ± t·sd/√n of the differences, over the seeds both sides have', () => {
    // d = [−2, −1, −3, −2, −2] (seed 5 of `a` has no partner): mean −2, sd √0.5, t_{0.975,4} = 2.776445.
    const a = new Map([[0, 10], [1, 12], [2, 9], [3, 11], [4, 10], [5, 99]]);
    const b = seeds([12, 13, 12, 13, 12]);
    const p = pairedDifference(a, b);
    const half = 2.776445 * Math.sqrt(0.5) / Math.sqrt(5);
    expect(p.n).toBe(5);
    expect(p.mean).toBeCloseTo(-2, 12);
    expect(p.lo).toBeCloseTo(-2 - half, 6);
    expect(p.hi).toBeCloseTo(-2 + half, 6);
    expect(verdict(p, false)).toBe('better'); // lower FPR, interval below 0
    expect(verdict(p, true)).toBe('worse');
  });

  it('claims nothing when the interval covers 0 or there is one pair', () => {
    const p = pairedDifference(seeds([1, 3, 2]), seeds([2, 2, 2])); // d = −1, 1, 0
    expect(p.lo).toBeLessThan(0);
    expect(p.hi).toBeGreaterThan(0);
    expect(verdict(p, false)).toBe('no difference shown');
    const one = pairedDifference(seeds([1]), seeds([2]));
    expect(one.n).toBe(1);
    expect(verdict(one, false)).toBe('no difference shown');
    expect(formatPaired(one, false)).toBe('−100.00 (1 seed)');
  });
});

function cell(label: string, seed: number, fpr: Record<string, number>, acc: number): CellResult {
  const rows = Object.entries(fpr).map(([ood, f]) => ({ ood, score: 'energy', fpr95: f, auroc: 1 - f / 2, aupr_in: 0, aupr_out: 0 }));
  const metrics = { method: 'x', model: 'cnn', seed, backend: 'cpu', idAccuracy: acc, tpr: 0.95, thresholds: {}, rows, validationRows: [], trainSeconds: 1 } as unknown as RunMetrics;
  return { label, tables: ['main'], seed, dir: '', metrics, seconds: 1, cached: false };
}

describe('paired-difference table', () => {
  const config: BenchmarkConfig = {
    name: 't', defaults: { id: 'fashion-mnist' }, scores: ['energy'], paired: ['Base'],
    entries: [{ label: 'Base', seeds: [0, 1, 2] }, { label: 'Better', seeds: [0, 1, 2] }, { label: 'Same', seeds: [0, 1, 2] }],
  };
  const near = 'fashion-mnist:held-out classes 6,7,8,9';
  const base = [0.2, 0.3, 0.25], nearBase = [0.5, 0.6, 0.55];
  const cells = [
    ...base.map((f, s) => cell('Base', s, { mnist: f, [near]: nearBase[s] }, 0.9)),
    // Better: 0.10 lower far FPR every seed, near FPR ±: the average is 0.05 lower.
    ...base.map((f, s) => cell('Better', s, { mnist: f - 0.1, [near]: nearBase[s] + [0.01, -0.01, 0][s] }, 0.9 - 0.01 * s)),
    ...base.map((f, s) => cell('Same', s, { mnist: f + [0.05, -0.05, 0][s], [near]: nearBase[s] }, 0.9)),
  ];

  it('a row per method, the average over all test sets (near included) and the held-out set on its own', () => {
    const md = renderPairedTable(config, cells);
    const lines = md.split('\n');
    expect(lines[0]).toContain('Paired differences to Base');
    expect(lines[2]).toContain(`Δ ${near} FPR95↓`);
    const better = lines.find((l) => l.startsWith('| Better'))!.split(' | ');
    // avg FPR: d = [−0.045, −0.055, −0.05] → mean −5.00 points, sd 0.5 points: CI −5 ± 4.303·0.5/√3.
    const half = (4.302653 * 0.005 / Math.sqrt(3)) * 100;
    expect(better[1]).toBe(`−5.00 [${(-5 - half).toFixed(2).replace('-', '−')}, ${(-5 + half).toFixed(2).replace('-', '−')}] ✓`);
    expect(better[3]).toMatch(/^−1\.00 \[−3\.48, 1\.48\]$/); // accuracy: d = 0, −1, −2 points
    expect(better[4]).not.toMatch(/[✓✗]/);
    const same = lines.find((l) => l.startsWith('| Same'))!;
    expect(same).not.toMatch(/[✓✗]/);
    expect(md).not.toMatch(/^\| Base/m);
  });

  it('is part of the rendered tables only when the config asks for it', () => {
    expect(renderTables(config, cells)).toContain('Paired differences to Base');
    expect(renderTables({ ...config, paired: undefined }, cells)).not.toContain('Paired differences');
  });
});

describe('paired differences of the ablation rows', () => {
  const config: BenchmarkConfig = {
    name: 't', defaults: { id: 'fashion-mnist' }, scores: ['energy'], paired: ['Base'], pairedAblations: ['Full'],
    entries: [
      { label: 'Base', seeds: [0, 1, 2] },
      { label: 'Full', seeds: [0, 1, 2, 3, 4], tables: ['main', 'stages'] },
      { label: 'Full w/o X', seeds: [0, 1, 2], tables: ['stages'] },
    ],
  };
  const cells = [
    ...[0, 1, 2].map((s) => cell('Base', s, { mnist: 0.3 }, 0.9)),
    ...[0, 1, 2, 3, 4].map((s) => cell('Full', s, { mnist: 0.1 + 0.01 * s }, 0.9)),
    // w/o X is 2 points worse than Full in each of its three seeds.
    ...[0, 1, 2].map((s) => cell('Full w/o X', s, { mnist: 0.12 + 0.01 * s }, 0.9)),
  ];

  it('compares each ablation with the reference over the seeds both ran, and leaves main rows to the main table', () => {
    const md = renderAblationPairedTable(config, cells);
    expect(md.split('\n')[0]).toContain('Paired differences of the ablations to Full');
    const row = md.split('\n').find((l) => l.startsWith('| Full w/o X'))!.split(' | ');
    expect(row[1]).toBe('2.00 [2.00, 2.00] ✗');
    expect(row[row.length - 1]).toBe('3 |');
    expect(md).not.toMatch(/^\| (Base|Full) \|/m);
    expect(renderPairedTable(config, cells)).not.toContain('w/o X');
    expect(renderTables(config, cells)).toContain('Paired differences of the ablations to Full');
    expect(renderAblationPairedTable({ ...config, pairedAblations: undefined }, cells)).toBe('');
  });
});

describe('paired differences to a (method + score) row', () => {
  const near = 'fashion-mnist:held-out classes 6,7,8,9';
  // Two scores per cell: the reference row is CE + ViM; every other (method, score) row is compared with it.
  function cell2(label: string, seed: number, byScore: Record<string, [number, number]>, acc: number): CellResult {
    const rows = Object.entries(byScore).flatMap(([score, [far, nr]]) => [
      { ood: 'mnist', score, fpr95: far, auroc: 0.9, aupr_in: 0, aupr_out: 0 },
      { ood: near, score, fpr95: nr, auroc: 0.8, aupr_in: 0, aupr_out: 0 },
    ]);
    const metrics = { method: 'x', model: 'cnn', seed, backend: 'cpu', idAccuracy: acc, tpr: 0.95, thresholds: {}, rows, validationRows: [], trainSeconds: 1 } as unknown as RunMetrics;
    return { label, tables: ['main'], seed, dir: '', metrics, seconds: 1, cached: false };
  }
  const config: BenchmarkConfig = {
    name: 't', defaults: { id: 'fashion-mnist' }, scores: ['energy', 'vim'], pairedRows: [{ label: 'CE', score: 'vim' }],
    entries: [{ label: 'CE', seeds: [0, 1, 2] }, { label: 'Rot', seeds: [0, 1, 2] }],
  };
  const cells = [0, 1, 2].flatMap((s) => [
    cell2('CE', s, { energy: [0.2, 0.7], vim: [0.1, 0.6] }, 0.9),
    // Rot + ViM: near FPR 5 points lower in every seed, same far; accuracy 1 point higher.
    cell2('Rot', s, { energy: [0.2, 0.7 + 0.01 * s], vim: [0.1, 0.55] }, 0.91),
  ]);

  it('a row per (method, score) except the reference, near sets first', () => {
    const md = renderPairedRowsTable(config, cells);
    const lines = md.split('\n');
    expect(lines[0]).toContain('Paired differences to CE + ViM');
    expect(lines[2]).toBe(`| Method + score − CE + ViM | Δ ${near} FPR95↓ | Δ avg FPR95↓ | Δ ID acc. | pairs |`);
    const row = (name: string) => lines.find((l) => l.startsWith(`| ${name} |`))?.split(' | ');
    expect(row('CE + ViM')).toBeUndefined();
    expect(row('Rot + ViM')!.slice(1)).toEqual(['−5.00 [−5.00, −5.00] ✓', '−2.50 [−2.50, −2.50] ✓', '1.00 [1.00, 1.00] ✓', '3 |']);
    // CE + Energy: near +10 points, far +10: the average over both sets is +10.
    expect(row('CE + Energy')![1]).toBe('10.00 [10.00, 10.00] ✗');
    expect(row('Rot + Energy')![1]).toMatch(/^11\.00 \[/);
    expect(renderTables(config, cells)).toContain('Paired differences to CE + ViM');
    expect(renderPairedRowsTable({ ...config, pairedRows: undefined }, cells)).toBe('');
  });
});
