import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { prepareDataset } from '../../src/data/prepare.js';
import { computeNormalization } from '../../src/data/normalize.js';
import type { ImageSet } from '../../src/data/types.js';
import { AresError } from '../../src/errors.js';
import { join } from 'node:path';
import sharp from 'sharp';
import { tempDir, writeFile } from './helpers.js';

const hasFashion = existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz');

function keys(set: ImageSet): Set<string> {
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  const out = new Set<string>();
  for (let i = 0; i < set.count; i++) out.add(Buffer.from(set.images.buffer, set.images.byteOffset + i * per * 4, per * 4).toString('base64'));
  return out;
}

describe('prepareDataset', () => {
  it('open-set MNIST: digits 0–5 as ID (train/val/test carved by seed), 6–9 as OOD, normalisation from train only', async () => {
    const d = await prepareDataset({ id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], seed: 1, valFraction: 0.1, testFraction: 0.2, ood: ['gaussian'], oodCount: 50 });
    expect(d.classNames).toEqual(['0', '1', '2', '3', '4', '5']);
    const id = 1001 + 1127 + 991 + 1032 + 980 + 863;
    expect(d.train.count + d.val.count + d.test.count).toBe(id);
    expect(d.test.count).toBe(Math.round(0.2 * id));
    expect(d.val.count).toBe(Math.round(0.1 * (id - d.test.count)));
    for (const s of [d.train, d.val, d.test]) expect(Math.max(...s.labels!)).toBe(5);
    const [heldOut, gauss] = d.ood;
    expect(heldOut.name).toBe('mnist:held-out classes 6,7,8,9');
    expect(heldOut.count).toBe(10000 - id);
    expect(heldOut.labels).toBeUndefined();
    expect(gauss.count).toBe(50);
    // Disjoint splits.
    const train = keys(d.train);
    for (const k of keys(d.val)) expect(train.has(k)).toBe(false);
    for (const k of keys(d.test)) expect(train.has(k)).toBe(false);
    // Normalisation is the training split's own.
    expect(d.normalization).toEqual(computeNormalization(d.train));
    expect(d.shape).toEqual([28, 28, 1]);
  });

  it('a retrained fold: the fold class leaves train, val and test, its training images (after the limit) are a validation OOD set, nothing outside idClasses is loaded', async () => {
    const spec = { id: 'mnist', idClasses: [0, 1, 2, 3, 4, 5], seed: 1, limit: 3000, valOod: ['blobs'] };
    const whole = await prepareDataset(spec);
    const d = await prepareDataset({ ...spec, foldClass: 2 });
    expect(d.classNames).toEqual(['0', '1', '3', '4', '5']);
    for (const s of [d.train, d.val, d.test]) expect(Math.max(...s.labels!)).toBe(4);
    expect(d.ood).toEqual([]); // no held-out test classes 6–9
    expect(d.valOod.map((s) => s.name)).toEqual(['blobs:train', 'mnist:fold class 2 (2)']);
    const fold = d.valOod[1];
    expect(fold.labels).toBeUndefined();
    // Exactly the limited training pool's digit-2 images; the rest are the other classes' same images.
    const pool = [whole.train, whole.val];
    const twos = pool.reduce((n, s) => n + s.labels!.filter((y) => y === 2).length, 0);
    expect(fold.count).toBe(twos);
    expect(d.train.count + d.val.count + fold.count).toBe(whole.train.count + whole.val.count);
    const wholeTwos = new Set<string>();
    for (const s of pool) {
      const idx = Array.from(s.labels!.keys()).filter((i) => s.labels![i] === 2);
      const per = 28 * 28;
      for (const i of idx) wholeTwos.add(Buffer.from(s.images.buffer, s.images.byteOffset + i * per * 4, per * 4).toString('base64'));
    }
    expect(keys(fold)).toEqual(wholeTwos);
    const foldKeys = keys(fold);
    for (const s of [d.train, d.val]) for (const k of keys(s)) expect(foldKeys.has(k)).toBe(false);
    expect(d.test.count).toBe(whole.test.labels!.filter((y) => y !== 2).length);
    await expect(prepareDataset({ ...spec, foldClass: 7 })).rejects.toThrow(/foldClass 7 is not one of idClasses/);
    await expect(prepareDataset({ id: 'mnist', seed: 0, foldClass: 1 })).rejects.toThrow(/foldClass 1 needs idClasses/);
    await expect(prepareDataset({ id: 'mnist', seed: 0, idClasses: [0, 1], foldClass: 1 })).rejects.toThrow(/at least 3 idClasses/);
  });

  it('is deterministic by seed', async () => {
    const a = await prepareDataset({ id: 'mnist', seed: 3, limit: 300 });
    const b = await prepareDataset({ id: 'mnist', seed: 3, limit: 300 });
    const c = await prepareDataset({ id: 'mnist', seed: 4, limit: 300 });
    expect(Array.from(a.val.images)).toEqual(Array.from(b.val.images));
    expect(Array.from(a.val.images)).not.toEqual(Array.from(c.val.images));
    expect(a.train.count + a.val.count).toBe(300);
    expect(a.test.count).toBe(300);
  });

  it('brings every set to the model shape; validation and test OOD draws differ; given normalisation is used', async () => {
    const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const d = await prepareDataset({ id: 'mnist', seed: 2, limit: 100, shape: [32, 32, 3], ood: ['blobs', 'uniform'], valOod: ['blobs'], normalization: norm });
    for (const s of [d.train, d.val, d.test, ...d.ood, ...d.valOod]) {
      expect(s.shape).toEqual([32, 32, 3]);
      expect(s.images.length).toBe(s.count * 32 * 32 * 3);
    }
    expect(d.ood.map((s) => s.count)).toEqual([100, 100]);
    expect(Array.from(d.valOod[0].images)).not.toEqual(Array.from(d.ood[0].images));
    expect(d.normalization).toEqual(norm);
  });

  it('rejects bad specs with AresError', async () => {
    await expect(prepareDataset({ id: 'mnist', seed: 0, valFraction: 1.5 })).rejects.toThrow(/valFraction must be in \[0, 1\)/);
    await expect(prepareDataset({ id: 'gaussian', seed: 0 })).rejects.toBeInstanceOf(AresError);
    await expect(prepareDataset({ id: 'mnist', seed: 0, limit: 50, normalization: { mean: [0.1, 0.2], std: [1, 1] } }))
      .rejects.toThrow(/normalization: expected \{mean, std\} with 1 finite values/);
    await expect(prepareDataset({ id: 'mnist', seed: 0, idClasses: [0, 12] })).rejects.toThrow(/class 12 does not exist/);
  });

  it.skipIf(!hasFashion)('Fashion-MNIST ID with its published test split and MNIST as OOD', async () => {
    const d = await prepareDataset({ id: 'fashion-mnist', seed: 0, limit: 500, ood: ['mnist'] });
    expect(d.train.count + d.val.count).toBe(500);
    expect(d.test.count).toBe(500);
    expect(d.classNames[9]).toBe('Ankle boot');
    expect(d.ood[0].name).toBe('mnist');
    expect(d.ood[0].count).toBe(500);
  });

  it('an image-folder ID set with train/ and test/ of mixed sizes, resized while decoding', async () => {
    const { dir, cleanup } = tempDir('prep');
    try {
      for (const [split, n] of [['train', 6], ['test', 2]] as const) {
        for (const cls of ['ant', 'bee']) {
          for (let i = 0; i < n; i++) {
            const size = 8 + i;
            const v = cls === 'ant' ? 40 : 200;
            writeFile(join(dir, split, cls, `${i}.png`), await sharp({ create: { width: size, height: size, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer());
          }
        }
      }
      const d = await prepareDataset({ id: dir, seed: 0, shape: [6, 6, 1], valFraction: 0.25 });
      expect(d.classNames).toEqual(['ant', 'bee']);
      expect(d.train.count + d.val.count).toBe(12);
      expect(d.val.count).toBe(3);
      expect(d.test.count).toBe(4);
      expect(d.test.shape).toEqual([6, 6, 1]);
      const antMean = 40 / 255;
      expect(d.test.images[0]).toBeCloseTo(antMean, 5);
    } finally {
      cleanup();
    }
  });
});
