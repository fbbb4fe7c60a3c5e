import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { prepareForConfig, resolveConfig } from '../../src/pipeline/train-run.js';
import type { TrainConfig } from '../../src/methods/config.js';
import { runCli, tempDir, writeProbeImages } from './helpers.js';
import { validationHistogram } from '../../src/export/page/validation.js';
import { parseDetectorSpec } from '../../src/run/detector.js';
import { runPaths } from '../../src/run/folder.js';

/**
 * The same "done when" as predict.test.ts, but on the output of `ares train` itself (ARES, the
 * reference CNN, MNIST digits 0–5) rather than on a test fixture, so the whole path a user takes
 * — train, then predict on PNG files — is exercised. The digits are the run's own test split
 * (never trained on, never used for γ); the noise is drawn with a seed the run never used.
 */
const { dir, cleanup } = tempDir('predict-trained');
afterAll(cleanup);
const runDir = join(dir, 'run');
const digitsDir = join(dir, 'digits');
const noiseDir = join(dir, 'noise');
let truth = new Map<string, string>();

beforeAll(async () => {
  const train = runCli(['train', '--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--ood', 'gaussian', '--limit', '3000',
    '--epochs', '3', '--pretrain-epochs', '1', '--seed', '3', '--out', runDir, '--json'], {}, 280_000);
  expect(train.stderr).not.toMatch(/error/i);
  expect(train.code).toBe(0);

  await initEngine({ backend: 'cpu' });
  const saved = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')) as TrainConfig;
  const data = await prepareForConfig(resolveConfig(saved));
  truth = await writeProbeImages(data.test, data.classNames, digitsDir, noiseDir, { noiseSeed: 987 });
}, 300_000);

describe('ares predict on an `ares train` run', () => {
  it('answers unknown for most Gaussian noise and the right digit for most held-in digits', () => {
    const r = runCli(['predict', '--run', runDir, '--json', digitsDir, noiseDir]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { gamma: number; predictions: { file: string; label: string; score: number; accepted: boolean }[] };
    expect(out.predictions).toHaveLength(60 + 30);
    const noise = out.predictions.filter((p) => p.file.startsWith(noiseDir));
    const digits = out.predictions.filter((p) => p.file.startsWith(digitsDir));
    const unknownShare = noise.filter((p) => p.label === 'unknown').length / noise.length;
    const correctShare = digits.filter((p) => p.label === truth.get(p.file)).length / digits.length;
    console.log(`predict (ares train run): ${(100 * unknownShare).toFixed(0)}% of Gaussian noise unknown, ${(100 * correctShare).toFixed(0)}% of held-in digits right (γ = ${out.gamma.toFixed(3)})`);
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(correctShare).toBeGreaterThanOrEqual(0.8);
  });

  it('ares eval --detector knn stores knn (fitted on ID training data, γ on ID validation) and predict uses it', () => {
    const before = JSON.parse(readFileSync(join(runDir, 'detector.json'), 'utf8'));
    const e = runCli(['eval', '--run', runDir, '--score', 'vim,rmds', '--detector', 'knn', '--json'], {}, 280_000);
    expect(e.stderr).toBe('');
    expect(e.code).toBe(0);
    const metrics = JSON.parse(e.stdout) as { rows: { score: string; ood: string; auroc: number }[]; thresholds: Record<string, number> };
    expect(new Set(metrics.rows.map((r) => r.score))).toEqual(new Set(['vim', 'rmds', 'knn']));
    for (const r of metrics.rows) console.log(`eval (ares train run): ${r.score} on ${r.ood}: AUROC ${(100 * r.auroc).toFixed(2)}%`);
    const det = JSON.parse(readFileSync(join(runDir, 'detector.json'), 'utf8'));
    expect(det.score.name).toBe('knn');
    expect(det.threshold.gamma).toBe(metrics.thresholds.knn);
    // The model's learned energy weights survive beside the new score (the run trained with
    // --score auto may already deploy another score, with the weights kept beside it).
    const learned = before.score.name === 'energy' ? before.score.weights : before.energyWeights;
    expect(learned).toBeTruthy();
    expect(det.energyWeights ?? null).toEqual(learned);
    expect(JSON.parse(readFileSync(join(runDir, 'threshold.json'), 'utf8')).score).toBe('knn');
    // The stored score arrays are the new detector's, so the exported page still draws its histogram.
    const hist = validationHistogram({ detector: parseDetectorSpec(det, 'detector.json'), paths: runPaths(runDir) });
    expect(hist.note).toBeUndefined();
    expect(hist.histogram?.score).toBe('knn');

    const r = runCli(['predict', '--run', runDir, '--json', digitsDir, noiseDir]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { score: string; gamma: number; predictions: { file: string; label: string }[] };
    expect(out.score).toBe('knn');
    const noise = out.predictions.filter((p) => p.file.startsWith(noiseDir));
    const digits = out.predictions.filter((p) => p.file.startsWith(digitsDir));
    const unknownShare = noise.filter((p) => p.label === 'unknown').length / noise.length;
    const correctShare = digits.filter((p) => p.label === truth.get(p.file)).length / digits.length;
    console.log(`predict (knn detector): ${(100 * unknownShare).toFixed(0)}% of Gaussian noise unknown, ${(100 * correctShare).toFixed(0)}% of held-in digits right`);
    expect(unknownShare).toBeGreaterThanOrEqual(0.9);
    expect(correctShare).toBeGreaterThanOrEqual(0.8);

    const bad = runCli(['eval', '--run', runDir, '--detector', 'odin']);
    expect(bad.code).toBe(1); // a usage error, reported by commander like any bad option value
    expect(bad.stderr).toMatch(/odin cannot be stored/);
  }, 300_000);
});
