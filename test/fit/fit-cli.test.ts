import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import * as tf from '@tensorflow/tfjs';
import { generateSet, prepareDataset, type PreparedDataset } from '../../src/data/index.js';
import { loadDetector } from '../../src/export/index.js';
import { runCli, tempDir, writeProbeImages, predictShares } from '../run/helpers.js';
import { saveLikeTfjsNode, smallCnn, trainPlain } from './plain-model.js';

/**
 * The user's path: a classifier made with plain tfjs (digits 0–5 of MNIST), saved as model.json +
 * weights.bin; `ares fit` on it, then `ares predict` on PNG files. The probe digits are the fit's
 * own ID test split (the model never trained on them, γ never saw them); noise is Gaussian.
 */
const { dir, cleanup } = tempDir('fit-cli');
afterAll(cleanup);
const modelDir = join(dir, 'user-model');
const runDir = join(dir, 'run');
const DATA = ['--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--limit', '2500', '--seed', '4'];
let data: PreparedDataset;

beforeAll(async () => {
  await initEngine();
  const t0 = performance.now();
  data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], limit: 2500, seed: 4 });
  const model = smallCnn([28, 28, 1], 6, 1);
  await trainPlain(model, data.train.images, data.train.labels!, [28, 28, 1], 6, 4);
  await saveLikeTfjsNode(model, modelDir);
  model.dispose();
  console.log(`plain tfjs model trained and saved in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}, 60_000);

describe('ares fit on a plain tfjs model', () => {
  it('writes a run folder that predict answers with: unknown for noise, the right digit for held-in digits', async () => {
    const r = runCli(['fit', '--model', join(modelDir, 'model.json'), ...DATA, '--ood', 'gaussian', '--score', 'energy,msp,mahalanobis', '--out', runDir, '--json'], {}, 60_000);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.logits).toMatch(/pre-softmax.*dense/i);
    expect(out.featureDim).toBe(64);
    expect(out.classNames).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(out.score).toBe('energy');
    expect(Math.abs(out.idValidationRejected - 0.05)).toBeLessThan(0.03);
    expect(out.metrics.rows.map((x: { score: string }) => x.score).sort()).toEqual(['energy', 'energy', 'mahalanobis', 'mahalanobis', 'msp', 'msp']);
    for (const f of ['config.json', 'detector.json', 'threshold.json', 'metrics.json', 'model/model.json', 'report.html']) expect(existsSync(join(runDir, f)), f).toBe(true);
    expect(existsSync(join(runDir, 'history.json'))).toBe(false);
    const threshold = JSON.parse(readFileSync(join(runDir, 'threshold.json'), 'utf8'));
    expect(threshold).toMatchObject({ tpr: 0.95, on: 'id-validation', score: 'energy', count: data.val.count });
    expect(threshold.meaning).toMatch(/accept.*95\.0%/);
    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ method: 'fit', featuresLayer: expect.any(String), logits: out.logits });

    const truth = await writeProbeImages(data.test, data.classNames, join(dir, 'digits'), join(dir, 'noise'), { noiseSeed: 55 });
    const { unknownShare, rightShare } = predictShares(runDir, join(dir, 'digits'), join(dir, 'noise'), truth, 'ares fit (plain tfjs CNN)');
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(rightShare).toBeGreaterThanOrEqual(0.8);
  }, 90_000);

  it('eval, export (bundle loads and rejects noise) and report accept the fitted run', async () => {
    const e = runCli(['eval', '--run', runDir, '--ood', 'uniform', '--score', 'energy', '--json'], {}, 60_000);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    const m = JSON.parse(e.stdout);
    expect(m.idAccuracy).toBeGreaterThan(0.85);
    expect(m.rows.some((x: { ood: string }) => x.ood.startsWith('uniform'))).toBe(true);
    const x = runCli(['export', '--run', runDir, '--out', join(dir, 'bundle'), '--json']);
    expect(x.code).toBe(0);
    expect(existsSync(join(dir, 'bundle', 'ares.json'))).toBe(true);
    const det = await loadDetector(join(dir, 'bundle'));
    const noise = generateSet('uniform', { shape: [28, 28, 1], count: 20, seed: 31, split: 'test' });
    const input = tf.tensor4d(noise.images, [20, 28, 28, 1]);
    const answers = await det.predict(input);
    input.dispose(); det.dispose();
    expect(answers.filter((a) => a.label === 'unknown').length).toBeGreaterThanOrEqual(18);
    const rep = runCli(['report', '--run', runDir, '--out', join(dir, 'r.html')]);
    expect(rep.code).toBe(0);
    expect(readFileSync(join(dir, 'r.html'), 'utf8')).toMatch(/No training history/);
  }, 90_000);

  it('refuses an existing run folder, and explains a mismatch of classes', () => {
    const again = runCli(['fit', '--model', modelDir, ...DATA, '--out', runDir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already holds a run/);
    const wrong = runCli(['fit', '--model', modelDir, '--id', 'mnist', '--limit', '300', '--out', join(dir, 'wrong')]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/10 classes .* but the model has 6 outputs/);
    expect(existsSync(join(dir, 'wrong'))).toBe(false);
  }, 60_000);

  it('deploys a fitted feature score (knn) when it is the first one asked for, and predict uses it', async () => {
    const knnRun = join(dir, 'run-knn');
    const r = runCli(['fit', '--model', modelDir, ...DATA, '--score', 'knn,energy', '--out', knnRun, '--json'], {}, 60_000);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).score).toBe('knn');
    const detector = JSON.parse(readFileSync(join(knnRun, 'detector.json'), 'utf8'));
    expect(detector.score.name).toBe('knn');
    const scores = JSON.parse(readFileSync(join(knnRun, 'artifacts', 'scores.json'), 'utf8'));
    expect(scores.val).toHaveLength(data.val.count);
    const p = runCli(['predict', '--run', knnRun, '--json', join(dir, 'digits'), join(dir, 'noise')]);
    expect(p.code).toBe(0);
    const noise = (JSON.parse(p.stdout).predictions as { file: string; label: string }[]).filter((x) => x.file.includes('noise-'));
    expect(noise.filter((x) => x.label === 'unknown').length / noise.length).toBeGreaterThanOrEqual(0.9);
  }, 90_000);
});
