import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { createSession, trainStep } from '../../src/methods/train.js';
import { prepareForConfig, resolveConfig, trainRun } from '../../src/pipeline/train-run.js';
import type { TrainConfig } from '../../src/methods/config.js';
import { tempDir } from '../data/helpers.js';
import { writePaperDataRoot } from './paper-data.js';

const root = tempDir('augment');
afterAll(root.cleanup);
beforeAll(async () => {
  await initEngine();
  await writePaperDataRoot(root.dir, { train: 160, test: 40, skip: ['cifar-100-binary', 'dtd/images', 'svhn', 'LSUN', 'iSUN', 'places365'] });
});

/** Generated CIFAR-format data (32×32 RGB): `auto` becomes crop-flip. */
const cifar = (over: Partial<TrainConfig> = {}) => resolveConfig({
  id: join(root.dir, 'cifar-10-batches-bin'), ood: ['gaussian'], valOod: 'blobs', model: 'cnn', method: 'pixmix-only',
  epochs: 2, pretrainEpochs: 1, batchSize: 32, fractalBankSize: 32, seed: 2, ...over,
});
const readConfig = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));

describe('training with crop + flip (generated CIFAR-format data)', () => {
  it('a step augments the images and leaves the labels as they were', async () => {
    const cfg = cifar({ method: 'ce' });
    const data = await prepareForConfig(cfg);
    const s = createSession({ ...cfg, augment: 'crop-flip' }, data);
    const y = Int32Array.from({ length: 32 }, (_, i) => i % 10);
    const x = data.train.images.slice(0, 32 * 32 * 32 * 3);
    const before = Float32Array.from(x);
    await trainStep(s, x, y, 0, 0, 0.01);
    expect(y).toEqual(Int32Array.from({ length: 32 }, (_, i) => i % 10));
    expect(x).not.toEqual(before);
    s.model.layersModel.dispose();
  });

  it('auto is recorded as crop-flip for 32×32 RGB; crop-flip changes training; resuming a stopped run reproduces the uninterrupted one', async () => {
    const cfg = cifar();
    const whole = await trainRun(cfg, { out: mkdtempSync(join(tmpdir(), 'ares-aug-whole-')) });
    const plain = await trainRun(cifar({ augment: 'none' }));
    expect(plain.trained.history.map((h) => h.loss)).not.toEqual(whole.trained.history.map((h) => h.loss));
    const dir = mkdtempSync(join(tmpdir(), 'ares-aug-resume-'));
    expect((await trainRun(cfg, { out: dir, stopAfterEpochs: 1 })).evaluation).toBeNull();
    // The run records what `auto` became for this data.
    expect(readConfig(dir).augment).toBe('crop-flip');
    const resumed = await trainRun(cfg, { out: dir, resume: true });
    expect(resumed.trained.history.map((h) => h.loss)).toEqual(whole.trained.history.map((h) => h.loss));
    expect(resumed.evaluation!.ood[0].metrics.auroc).toBe(whole.evaluation!.ood[0].metrics.auroc);
  });
});
