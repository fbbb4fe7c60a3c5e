import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { generateSet, GENERATED_KINDS, VALIDATION_NOISE_KINDS } from '../../src/data/generated.js';
import { applyScoreRule, autoValidationSetMakers, autoValidationSets, FAR_SET_BYTES, foldClasses, formatSelection, heldOutFold, LOGIT_CANDIDATES, SCORE_RULE, selectScore, type CandidateNumbers, type Outputs } from '../../src/eval/auto-score.js';
import { energy, msp } from '../../src/scores/index.js';
import { resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import type { PreparedDataset } from '../../src/data/prepare.js';
import type { ImageSet } from '../../src/data/types.js';

const row = (score: CandidateNumbers['score'], far: number[], near: number[] = [], failure: string | null = null): CandidateNumbers => ({
  score, far: Object.fromEntries(far.map((v, i) => [`far${i}`, v])), near: Object.fromEntries(near.map((v, i) => [`class${i}`, v])), failure,
});

describe('applyScoreRule', () => {
  it('picks the lowest objective, mean of far and near so that neither family dominates', () => {
    // knn: far 0.2, near 0.2 → 0.2; vim: far 0.05 (3 sets), near 0.5 → 0.275. Pooling all sets
    // would have picked vim (0.1625 vs 0.2); the per-family mean picks knn.
    const r = applyScoreRule([row('vim', [0.05, 0.05, 0.05], [0.5]), row('knn', [0.2, 0.2, 0.2], [0.2])], 0.95);
    expect(r.chosen).toBe('knn');
    expect(r.rows.find((x) => x.score === 'vim')!.objective).toBeCloseTo(0.275, 10);
    expect(r.rows.map((x) => x.score)).toEqual(['vim', 'knn']);
  });

  it('gives ties within 0.5 points to the simpler candidate, not to the order given', () => {
    const r = applyScoreRule([row('knn', [0.100]), row('mahalanobis', [0.104]), row('energy', [0.2])], 0.95);
    expect(r.chosen).toBe('mahalanobis');
    expect(applyScoreRule([row('knn', [0.100]), row('mahalanobis', [0.100 + SCORE_RULE.tie + 0.001])], 0.95).chosen).toBe('knn');
  });

  it('excludes a candidate no better than chance on one far set, however good its mean', () => {
    // energy's mean (0.35) beats mahalanobis (0.4), but energy accepts all of one kind of input.
    const r = applyScoreRule([row('energy', [0, 0, 0, 0, 0, 0, 1.0], [0.45]), row('mahalanobis', [0.4, 0.4], [0.4])], 0.95);
    expect(r.chosen).toBe('mahalanobis');
    expect(r.rows[0].excluded).toMatch(/chance on far6/);
    expect(r.guardLifted).toBe(false);
  });

  it('lifts the chance guard when every candidate fails it, and drops failed candidates', () => {
    const r = applyScoreRule([row('energy', [0.96, 0.1]), row('vim', [0.95, 0.0]), row('knn', [0, 0], [], 'fit failed')], 0.95);
    expect(r.guardLifted).toBe(true);
    expect(r.chosen).toBe('vim');
    expect(r.rows.find((x) => x.score === 'knn')!.excluded).toBe('fit failed');
  });

  it('uses the far sets alone without folds, and the TPR as the chance line', () => {
    const r = applyScoreRule([row('energy', [0.85, 0.1]), row('msp', [0.3, 0.3])], 0.8);
    expect(r.rows[0].nearMean).toBeNull();
    expect(r.rows[0].objective).toBeCloseTo(0.475, 10);
    expect(r.chosen).toBe('msp');
  });
});

describe('held-out-class folds', () => {
  it('need at least 3 classes with training and validation images, and are at most maxFolds', () => {
    expect(foldClasses([0, 1, 1, 0], [0, 1], 2)).toEqual([]);
    expect(foldClasses([0, 1, 2], [0, 1], 3)).toEqual([]); // class 2 has no validation image
    expect(foldClasses([0, 1, 2], [2, 1, 0], 3)).toEqual([0, 1, 2]);
    const many = Array.from({ length: 40 }, (_, i) => i);
    const f = foldClasses(many, many, 40);
    expect(f).toHaveLength(SCORE_RULE.maxFolds);
    expect(new Set(f).size).toBe(SCORE_RULE.maxFolds);
    expect(f[f.length - 1]).toBeGreaterThan(30);
  });

  it('fold c drops class c\'s training rows and logit c, relabels the rest, and splits validation by class', () => {
    // 4 training rows, K = 3, d = 2; logit k of row i = 10·i + k so moved values are traceable.
    const logits = { data: Float32Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]), rows: 4, cols: 3 };
    const features = { data: Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]), rows: 4, cols: 2 };
    const head = { kernel: { data: Float32Array.from([1, 2, 3, 4, 5, 6]), rows: 2, cols: 3 }, bias: Float32Array.from([7, 8, 9]) };
    const train = { logits, features, labels: Int32Array.from([0, 1, 2, 1]), head };
    const val: Outputs = { name: 'val', rows: 3, logits: { data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), rows: 3, cols: 3 }, features: { data: Float32Array.from([9, 9, 8, 8, 7, 7]), rows: 3, cols: 2 }, labels: Int32Array.from([1, 0, 2]) };
    const f = heldOutFold(train, val, 1);
    expect(Array.from(f.train.labels)).toEqual([0, 1]);
    expect(Array.from((f.train.logits as { data: Float32Array }).data)).toEqual([0, 2, 20, 22]);
    expect(Array.from((f.train.features as { data: Float32Array }).data)).toEqual([0, 0, 2, 2]);
    expect(Array.from(f.train.head!.kernel.data)).toEqual([1, 3, 4, 6]);
    expect(Array.from(f.train.head!.bias!)).toEqual([7, 9]);
    expect(Array.from(f.id.logits.data)).toEqual([3, 5, 6, 8]);
    expect(Array.from(f.ood.logits.data)).toEqual([0, 2]);
    expect(f.ood.logits.rows).toBe(1);
  });
});

describe('selectScore', () => {
  it('weighs only the candidates given (logit scores for a model without features) and runs a fold per class', () => {
    // 3 classes, 12 rows each: the true class's logit is high; far images have flat, low logits.
    const outputs = (n: number, far: boolean): Outputs => {
      const logits = new Float32Array(n * 3), labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = i % 3;
        for (let k = 0; k < 3; k++) logits[i * 3 + k] = far ? 0.1 * ((i + k) % 2) : (k === labels[i] ? 4 + (i % 5) * 0.3 : (i * k) % 3 * 0.2);
      }
      return { name: far ? 'flat' : 'val', rows: n, logits: { data: logits, rows: n, cols: 3 }, features: { data: logits, rows: n, cols: 3 }, labels };
    };
    const val = outputs(36, false), train = outputs(60, false), far = outputs(20, true);
    const e = energy(), m = msp();
    const sel = selectScore({
      tpr: 0.95, val, far: [far], train: () => ({ logits: train.logits, features: train.features, labels: train.labels! }),
      classNames: ['a', 'b', 'c'], energyWeights: null, candidates: LOGIT_CANDIDATES,
      valScores: { energy: e.score(val), msp: m.score(val) }, scorers: { energy: (o) => e.score(o), msp: (o) => m.score(o) },
    });
    expect(sel.candidates.map((c) => c.score)).toEqual(['energy', 'msp']);
    expect(sel.folds.map((f) => [f.heldOut, f.idCount, f.oodCount])).toEqual([['a', 24, 12], ['b', 24, 12], ['c', 24, 12]]);
    expect(Object.keys(sel.candidates[0].near)).toEqual(['a', 'b', 'c']);
    // Flat low logits are far below every validation image for energy: FPR95 0 on the far set.
    expect(sel.candidates[0].far.flat).toBe(0);
    expect(['energy', 'msp']).toContain(sel.chosen);
  });
});

describe('validation sets of --score auto', () => {
  it('never use the test generators (gaussian, uniform), and the new noise kinds are valid images', () => {
    const images = new Float32Array(250 * 16 * 16).map((_, i) => (i % 7) / 7);
    const val: ImageSet = { name: 'val', shape: [16, 16, 1], count: 250, images, labels: new Int32Array(250), split: 'all' };
    const data = { val, shape: [16, 16, 1] } as unknown as PreparedDataset;
    const sets = autoValidationSets(data, 3);
    const names = sets.map((s) => s.name);
    expect(names).toEqual(['pixel-permuted', 'patch-shuffled', 'blurred', 'blobs', ...VALIDATION_NOISE_KINDS]);
    expect(names.some((n) => /gaussian|uniform/.test(n))).toBe(false);
    for (const s of sets) expect(s.count).toBe(250);
    // Large images get fewer per set (one set's pixels at a time stay under FAR_SET_BYTES).
    const big: ImageSet = { name: 'val', shape: [224, 224, 3], count: 300, images: new Float32Array(300 * 224 * 224 * 3), labels: new Int32Array(300), split: 'all' };
    const bigSets = autoValidationSetMakers({ val: big, shape: [224, 224, 3] } as unknown as PreparedDataset, 3);
    for (const make of [bigSets[0], bigSets[bigSets.length - 1]]) {
      const s = make();
      expect(s.count).toBe(Math.floor(FAR_SET_BYTES / (4 * 224 * 224 * 3)));
      expect(4 * s.images.length).toBeLessThanOrEqual(FAR_SET_BYTES);
    }
    expect(GENERATED_KINDS).toEqual(expect.arrayContaining(['gaussian', 'uniform', ...VALIDATION_NOISE_KINDS]));
  });

  it('each noise kind is deterministic, in [0, 1], differs by seed and has its own character', () => {
    const shape: [number, number, number] = [24, 24, 3];
    for (const kind of VALIDATION_NOISE_KINDS) {
      const a = generateSet(kind, { shape, count: 4, seed: 1, split: 'train' });
      expect(Array.from(a.images)).toEqual(Array.from(generateSet(kind, { shape, count: 4, seed: 1, split: 'train' }).images));
      expect(Array.from(a.images)).not.toEqual(Array.from(generateSet(kind, { shape, count: 4, seed: 2, split: 'train' }).images));
      expect(a.images.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    const per = 24 * 24 * 3;
    const distinct = (kind: (typeof VALIDATION_NOISE_KINDS)[number]) => new Set(generateSet(kind, { shape, count: 1, seed: 5 }).images.subarray(0, per)).size;
    expect(distinct('solid')).toBeLessThanOrEqual(3); // one colour: ≤ 3 channel values
    expect(distinct('checkerboard')).toBeLessThanOrEqual(6); // two colours
    expect(distinct('stripes')).toBeLessThanOrEqual(6);
    expect(distinct('salt-pepper')).toBeLessThanOrEqual(3); // grey, 0 and 1
    expect(distinct('smooth-noise')).toBeGreaterThan(100);
    // smooth-noise is low-frequency: neighbouring pixels differ far less than in uniform noise.
    const roughness = (x: Float32Array) => { let s = 0; for (let i = 3; i < per; i += 3) s += Math.abs(x[i] - x[i - 3]); return s / (per / 3); };
    expect(roughness(generateSet('smooth-noise', { shape, count: 1, seed: 5 }).images)).toBeLessThan(roughness(generateSet('uniform', { shape, count: 1, seed: 5 }).images) / 4);
  });
});

describe('ares train with --score auto', () => {
  beforeAll(async () => { await initEngine(); });

  it('deploys the rule\'s pick at the end of training and records why', async () => {
    const cfg = resolveConfig({ id: 'mnist', idClasses: [0, 1, 2, 3], valOod: 'blobs', model: 'cnn', method: 'ce', limit: 320, epochs: 1, pretrainEpochs: 1, batchSize: 64, seed: 1 });
    const out = mkdtempSync(join(tmpdir(), 'ares-auto-'));
    const r = await trainRun(cfg, { out, auto: true });
    const sel = r.evaluation!.selection!;
    expect(sel.folds.map((f) => f.heldOut)).toEqual(['0', '1', '2', '3']);
    expect(sel.candidates).toHaveLength(6);
    const detector = JSON.parse(readFileSync(join(out, 'detector.json'), 'utf8'));
    expect(detector.score.name).toBe(sel.chosen);
    expect(detector.threshold.gamma).toBe(r.evaluation!.thresholds[sel.chosen]);
    expect(JSON.parse(readFileSync(join(out, 'score-selection.json'), 'utf8')).chosen).toBe(sel.chosen);
    expect(JSON.parse(readFileSync(join(out, 'threshold.json'), 'utf8')).score).toBe(sel.chosen);
    expect(formatSelection(sel)).toMatch(new RegExp(`score auto: ${sel.chosen}`));
  }, 120_000);
});
