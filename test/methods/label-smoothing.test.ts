import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { classificationLoss } from '../../src/methods/ce-step.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/methods/checkpoint.js';
import { logitNormLoss } from '../../src/methods/logitnorm.js';
import { sameConfig } from '../../src/pipeline/benchmark.js';
import { resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import type { Method, TrainConfig } from '../../src/methods/config.js';

const LOGITS = [[2, 0, -1], [0.5, 0.5, 3], [-1, 4, 0.25]];
const LABELS = [0, 2, 0];

/** Mean over rows of −Σ_k t_k·log softmax(z)_k with t = (1 − ε)·onehot + ε/K, in float64. */
function handSmoothedCe(logits: number[][], labels: number[], eps: number): number {
  let sum = 0;
  logits.forEach((z, i) => {
    const m = Math.max(...z);
    const logZ = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    z.forEach((v, k) => { sum -= ((k === labels[i] ? 1 - eps : 0) + eps / z.length) * (v - logZ); });
  });
  return sum / logits.length;
}

const oneHot = () => tf.oneHot(tf.tensor1d(LABELS, 'int32'), 3);

beforeAll(async () => { await initEngine(); });

describe('label smoothing of the classification loss', () => {
  it('ε = 0.1 and 0.3 equal the hand computation; ε = 0.1 is not plain CE', () => {
    for (const eps of [0.1, 0.3]) {
      const loss = tf.tidy(() => classificationLoss(oneHot(), tf.tensor2d(LOGITS), eps).dataSync()[0]);
      expect(loss).toBeCloseTo(handSmoothedCe(LOGITS, LABELS, eps), 5);
    }
    const plain = handSmoothedCe(LOGITS, LABELS, 0);
    const smoothed = tf.tidy(() => classificationLoss(oneHot(), tf.tensor2d(LOGITS), 0.1).dataSync()[0]);
    expect(Math.abs(smoothed - plain)).toBeGreaterThan(0.02);
  });

  it('ε = 0 is bit-identical to the loss before the option, value and gradient', () => {
    const z = tf.tensor2d(LOGITS);
    const y = oneHot();
    const before = tf.valueAndGrad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, l) as tf.Scalar)(z);
    const now = tf.valueAndGrad((l: tf.Tensor) => classificationLoss(y, l, 0))(z);
    expect(now.value.dataSync()[0]).toBe(before.value.dataSync()[0]);
    expect(Array.from(now.grad.dataSync())).toEqual(Array.from(before.grad.dataSync()));
    tf.dispose([z, y, before.value, before.grad, now.value, now.grad]);
  });

  it('LogitNorm smooths the targets of its normalised logits', () => {
    const tau = 0.5;
    const normalised = LOGITS.map((z) => { const n = Math.hypot(...z) + 1e-7; return z.map((v) => v / (tau * n)); });
    const loss = tf.tidy(() => logitNormLoss(oneHot() as tf.Tensor2D, tf.tensor2d(LOGITS), tau, 0.2).dataSync()[0]);
    expect(loss).toBeCloseTo(handSmoothedCe(normalised, LABELS, 0.2), 5);
  });
});

const tiny = (method: Method, over: Partial<TrainConfig> = {}) => resolveConfig({
  id: 'mnist', ood: [], valOod: 'blobs', model: 'cnn', method,
  limit: 40, epochs: 2, pretrainEpochs: 0, batchSize: 16, fractalBankSize: 16, seed: 3, ...over,
});

describe('labelSmoothing in the configuration', () => {
  it('defaults to 0, is validated, and a run stored before the key existed matches 0 only', () => {
    expect(tiny('ce').labelSmoothing).toBe(0);
    for (const bad of [1, -0.1, Number.NaN]) expect(() => tiny('ce', { labelSmoothing: bad })).toThrow(/labelSmoothing \(--label-smoothing\) must be a number in \[0, 1\)/);
    for (const method of ['ce', 'pixmix-only', 'ares'] as const) {
      const { labelSmoothing: _, ...older } = resolveConfig({ id: 'fashion-mnist', method });
      expect(sameConfig(older as TrainConfig, resolveConfig({ id: 'fashion-mnist', method })), method).toBe(true);
      expect(sameConfig(older as TrainConfig, resolveConfig({ id: 'fashion-mnist', method, labelSmoothing: 0.1 })), method).toBe(false);
    }
  });

  it('reaches the training step: a smoothed run trains other losses than a plain one; resume keeps the recorded ε; older runs resume as ε = 0', async () => {
    const smoothed = tiny('pixmix-only', { labelSmoothing: 0.1 });
    const whole = await trainRun(smoothed, {});
    const plain = await trainRun(tiny('pixmix-only'), {});
    const losses = whole.trained.history.map((h) => h.loss);
    const plainLosses = plain.trained.history.map((h) => h.loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses).not.toEqual(plainLosses);
    // A resume continues the run folder's configuration, ε included, whatever the caller passes.
    const dir = mkdtempSync(join(tmpdir(), 'ares-ls-'));
    await trainRun(smoothed, { out: dir, stopAfterEpochs: 1 });
    const resumed = await trainRun(tiny('pixmix-only'), { out: dir, resume: true });
    expect(resumed.config.labelSmoothing).toBe(0.1);
    expect(resumed.trained.history.map((h) => h.loss)).toEqual(losses);

    // A folder written before the option (no labelSmoothing in config.json nor in the checkpoint) resumes as plain CE.
    const old = mkdtempSync(join(tmpdir(), 'ares-ls-old-'));
    await trainRun(tiny('pixmix-only'), { out: old, stopAfterEpochs: 1 });
    const withoutKey = <T extends object>(c: T): T => { const { labelSmoothing: _, ...rest } = c as T & { labelSmoothing?: number }; return rest as T; };
    const cfgFile = join(old, 'config.json');
    writeFileSync(cfgFile, JSON.stringify(withoutKey(JSON.parse(readFileSync(cfgFile, 'utf8')))));
    const ckpt = loadCheckpoint(old)!;
    saveCheckpoint(old, { ...ckpt, config: withoutKey(ckpt.config) });
    expect(readFileSync(cfgFile, 'utf8')).not.toContain('labelSmoothing');
    const oldResumed = await trainRun(tiny('pixmix-only'), { out: old, resume: true });
    expect(oldResumed.trained.history.map((h) => h.loss)).toEqual(plainLosses);
  });

  it('ares train --label-smoothing 1 says what is wrong in one line and exits 2', () => {
    const cli = spawnSync(process.execPath, ['bin/ares.js', 'train', '--id', 'mnist', '--label-smoothing', '1', '--out', mkdtempSync(join(tmpdir(), 'ares-ls-cli-'))],
      { encoding: 'utf8', env: { ...process.env, ARES_THREADS: '1' }, timeout: 120_000 });
    expect(cli.status).toBe(2);
    expect(cli.stderr.trim().split('\n')).toEqual([expect.stringMatching(/labelSmoothing \(--label-smoothing\) must be a number in \[0, 1\), got 1/)]);
  });
});
