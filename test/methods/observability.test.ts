import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { energySeparation } from '../../src/metrics/energy-separation.js';
import { runMetrics } from '../../src/pipeline/run-folder.js';
import { resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import { energyLine } from '../../src/cli/progress.js';
import { energyChart } from '../../src/report/charts.js';
import type { StepStats } from '../../src/methods/train.js';

beforeAll(async () => { await initEngine(); });

describe('energySeparation', () => {
  it('mean and 1/n std of each side, γ at the TPR on −E_in, and the share of outliers below γ', () => {
    const eIn = [-5, -4, -3, -2, -1, -6, -7, -8, -9, -10]; // scores 1..10
    const eOut = [-9.5, -2.5, -1.5, 0];
    const s = energySeparation(eIn, eOut, 0.8)!;
    expect(s.inMean).toBeCloseTo(-5.5, 12);
    expect(s.inStd).toBeCloseTo(Math.sqrt(8.25), 12);
    expect(s.outMean).toBeCloseTo(-3.375, 12);
    // 80% of inliers have −E >= 3, so γ = 3; outliers with −E < 3: 2.5, 1.5, 0.
    expect(s.gamma).toBe(3);
    expect(s.outliersRejected).toBeCloseTo(0.75, 12);
    expect(energySeparation([], [1], 0.95)).toBeNull();
  });
});

describe('energy observability in a real run', () => {
  it('ares and vos record per-epoch inlier/outlier energies in history, history.json, metrics.json and the step stats', async () => {
    for (const method of ['ares', 'vos'] as const) {
      const out = mkdtempSync(join(tmpdir(), `ares-obs-${method}-`));
      const steps: StepStats[] = [];
      const cfg = resolveConfig({
        id: 'mnist', idClasses: [0, 1, 2], ood: [], valOod: 'blobs', model: 'cnn', method,
        limit: 256, epochs: 2, pretrainEpochs: 1, batchSize: 64, fractalBankSize: 32, poolSize: 256, candidates: 512,
        vosQueue: 8, vosCandidates: 256, seed: 1,
      });
      const r = await trainRun(cfg, { out, onStep: (s) => steps.push(s) });
      const [pre, post] = r.trained.history;
      expect(pre.energy).toBeNull();
      expect(steps.filter((s) => s.epoch === 0).every((s) => s.energyIn === null && s.energyOut === null)).toBe(true);
      if (method === 'vos') {
        // VOS starts its loss only once every class queue is full; with queues of 8 that is at once.
        expect(steps.some((s) => s.epoch === 1 && s.energyIn !== null)).toBe(true);
      }
      const e = post.energy!;
      expect(e).not.toBeNull();
      for (const v of [e.inMean, e.inStd, e.outMean, e.outStd, e.gamma]) expect(Number.isFinite(v)).toBe(true);
      expect(e.inStd).toBeGreaterThan(0);
      expect(e.outliersRejected).toBeGreaterThanOrEqual(0);
      expect(e.outliersRejected).toBeLessThanOrEqual(1);
      const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8'));
      expect(history.epochs[1].energy).toEqual(e);
      expect(history.epochs[0].energy).toBeNull();
      const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
      expect(metrics.energies).toEqual([{ epoch: 1, energy: null }, { epoch: 2, energy: e }]);
      expect(runMetrics(r).energies).toEqual(metrics.energies);
      expect(energyLine(post)).toMatch(/E in -?\d+\.\d\d±\d+\.\d\d out -?\d+\.\d\d±\d+\.\d\d, \d+\.\d% of outliers past γ/);
    }
  }, 120_000);
});

describe('energy chart', () => {
  it('draws both groups with a ± std bar per epoch and leaves CE-only epochs out', () => {
    const svg = energyChart('e', [
      { epoch: 1, energy: null },
      { epoch: 2, energy: { inMean: -3, inStd: 1, outMean: -1, outStd: 0.5 } },
      { epoch: 3, energy: { inMean: -4, inStd: 1, outMean: 0, outStd: 0.5 } },
    ]);
    expect(svg).toMatch(/<svg id="e"/);
    expect(svg.match(/data-group="inliers"/g)).toHaveLength(1);
    expect(svg.match(/data-group="virtual outliers"/g)).toHaveLength(1);
    expect(svg.match(/stroke-width="1.5"\/>/g)).toHaveLength(4);
  });
});
