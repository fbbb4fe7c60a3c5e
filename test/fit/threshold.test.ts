import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { prepareDataset } from '../../src/data/index.js';
import { fit } from '../../src/fit/index.js';
import { resolveConfig } from '../../src/pipeline/train-run.js';
import { runCli, tempDir, expectAresError } from '../run/helpers.js';
import { saveLikeTfjsNode, trainPlain } from './plain-model.js';

/**
 * The operating point: --tpr moves γ; threshold.json and the report say what γ does on the ID
 * validation images (the share rejected, measured), for `ares fit` and `ares train` runs alike.
 */
const { dir, cleanup } = tempDir('fit-threshold');
afterAll(cleanup);
const modelDir = join(dir, 'dense');

beforeAll(async () => {
  await initEngine();
  const data = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2], limit: 900, seed: 2 });
  // A softmax *layer* after a linear Dense: the other way models end in softmax.
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      tf.layers.softmax(),
    ],
  });
  await trainPlain(model, data.train.images, data.train.labels!, [28, 28, 1], 3, 3);
  await saveLikeTfjsNode(model, modelDir);
  model.dispose();
}, 30_000);

describe('deployment threshold', () => {
  it('ares fit --tpr 0.8: γ rejects about 20% of ID validation, said in threshold.json and the report', async () => {
    const out = join(dir, 'run80');
    const det = await fit(modelDir, 'mnist', { idClasses: [0, 1, 2], limit: 900, seed: 2, tpr: 0.8, scores: ['msp', 'energy', 'odin'], out });
    expect(Number.isFinite(det.summary.metrics.thresholds.odin)).toBe(true); // ODIN's gradient runs through the rebuilt model
    expect(det.summary.logits).toMatchObject({ kind: 'pre-softmax', how: 'softmax-layer' });
    expect(det.summary.deployedScore).toBe('msp');
    expect(det.summary.idValidationRejected).toBeGreaterThan(0.12);
    expect(det.summary.idValidationRejected).toBeLessThan(0.21);
    const t = JSON.parse(readFileSync(join(out, 'threshold.json'), 'utf8'));
    expect(t).toMatchObject({ tpr: 0.8, score: 'msp', gamma: det.summary.gamma, idValidationRejected: det.summary.idValidationRejected, count: det.summary.validationCount });
    expect(t.meaning).toMatch(/accept 80\.0% of the \d+ ID validation images.*rejected as unknown/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/id="threshold-explained"[^]*accept 80\.00%[^]*Measured on them: <b>\d+\.\d\d%<\/b> rejected/);
    det.dispose();
  }, 60_000);

  it('ares train --tpr sets the operating point of a trained run', () => {
    expect(resolveConfig({ id: 'mnist', tpr: 0.9 }).tpr).toBe(0.9);
    expect(() => resolveConfig({ id: 'mnist', tpr: 1.5 })).toThrow(/--tpr must be in \(0, 1\]/);
    const out = join(dir, 'train90');
    const r = runCli(['train', '--id', 'mnist', '--id-classes', '0,1,2', '--limit', '600', '--method', 'ce', '--epochs', '1', '--pretrain-epochs', '0',
      '--batch-size', '64', '--tpr', '0.9', '--out', out, '--json'], {}, 120_000);
    expect(r.code).toBe(0);
    const t = JSON.parse(readFileSync(join(out, 'threshold.json'), 'utf8'));
    expect(t.tpr).toBe(0.9);
    expect(t.idValidationRejected).toBeGreaterThan(0.04);
    expect(t.idValidationRejected).toBeLessThanOrEqual(0.1);
    expect(t.meaning).toMatch(/accept 90\.0%/);
  }, 120_000);

  it('refuses a TPR outside (0, 1]', async () => {
    await expectAresError(() => fit(modelDir, 'mnist', { tpr: 0 }), /--tpr must be in \(0, 1\]/);
  });
});
