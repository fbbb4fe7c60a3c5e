import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { generateSet, prepareDataset } from '../../src/data/index.js';
import { encodePng } from '../../src/run/images.js';
import { runCli, tempDir } from '../run/helpers.js';
import { saveLikeTfjsNode, trainPlain } from './plain-model.js';

/**
 * The defect --score auto fixes: on a plain softmax MLP (flatten → dense 64 → dense 6, MNIST digits
 * 0–5, saved with model.save) the energy score called every uniform-noise image known. `ares fit`
 * with no --score must now deploy a score that calls noise unknown, and say which and why.
 * The noise probes come from the generators' TEST streams, which auto's validation never reads.
 */
const { dir, cleanup } = tempDir('fit-auto');
afterAll(cleanup);
const modelDir = join(dir, 'user-model');
const runDir = join(dir, 'run');
const ENV = { ARES_THREADS: '1' };

beforeAll(async () => {
  await initEngine();
  const data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], limit: 3000, seed: 2 });
  const k = (s: number) => tf.initializers.glorotUniform({ seed: 70 + s });
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: k(1) }),
      tf.layers.dense({ units: 6, activation: 'softmax', kernelInitializer: k(2) }),
    ],
  });
  await trainPlain(model, data.train.images, data.train.labels!, [28, 28, 1], 6, 3);
  await saveLikeTfjsNode(model, modelDir);
  model.dispose();
}, 60_000);

async function writeNoise(kind: 'uniform' | 'gaussian', folder: string): Promise<void> {
  mkdirSync(folder, { recursive: true });
  const set = generateSet(kind, { shape: [28, 28, 1], count: 20, seed: 91, split: 'test' });
  for (let i = 0; i < set.count; i++) writeFileSync(join(folder, `${kind}-${i}.png`), await encodePng(set, i));
}

describe('ares fit with no --score (auto)', () => {
  it('deploys a score that calls ≥ 19/20 uniform and ≥ 19/20 Gaussian noise images unknown, and records why', async () => {
    const r = runCli(['fit', '--model', join(modelDir, 'model.json'), '--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--limit', '3000', '--seed', '2', '--out', runDir, '--json'], ENV, 120_000);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const selection = JSON.parse(readFileSync(join(runDir, 'score-selection.json'), 'utf8'));
    expect(out.selection).toEqual(selection);
    expect(out.score).toBe(selection.chosen);
    const detector = JSON.parse(readFileSync(join(runDir, 'detector.json'), 'utf8'));
    expect(detector.score.name).toBe(selection.chosen);
    expect(selection.rule).toMatch(/lowest objective/);
    expect(selection.candidates.map((c: { score: string }) => c.score)).toEqual(['energy', 'msp', 'mahalanobis', 'rmds', 'vim', 'knn']);
    // 6 classes: a fold per class; far sets never include the test generators.
    expect(selection.folds).toHaveLength(6);
    const farNames = selection.farSets.map((s: { name: string }) => s.name);
    expect(farNames).toContain('salt-pepper');
    expect(farNames.some((n: string) => /gaussian|uniform/.test(n))).toBe(false);
    const config = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(config.scores[0]).toBe('auto');
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toMatch(/Score choice/);

    await writeNoise('uniform', join(dir, 'uniform'));
    await writeNoise('gaussian', join(dir, 'gaussian'));
    const p = runCli(['predict', '--run', runDir, '--json', join(dir, 'uniform'), join(dir, 'gaussian')], ENV);
    expect(p.code).toBe(0);
    const preds = JSON.parse(p.stdout).predictions as { file: string; label: string }[];
    const unknown = (kind: string) => preds.filter((x) => x.file.includes(`${kind}-`) && x.label === 'unknown').length;
    console.log(`auto picked ${selection.chosen}: uniform ${unknown('uniform')}/20, gaussian ${unknown('gaussian')}/20 unknown`);
    expect(unknown('uniform')).toBeGreaterThanOrEqual(19);
    expect(unknown('gaussian')).toBeGreaterThanOrEqual(19);
  }, 240_000);
});
