import { describe, expect, it } from 'vitest';
import { batchCount, batches, epochOrder } from '../../src/data/batches.js';
import { computeNormalization, normalize } from '../../src/data/normalize.js';
import type { ImageSet } from '../../src/data/types.js';
import { timeBatching } from '../../src/data/timing.js';
import { randomCropFlip } from '../../src/data/augment.js';
import { Rng } from '../../src/util/rng.js';

/** 10 images of 2×2×1 whose pixels all equal their index / 10, labelled index % 3. */
function indexedSet(count = 10): ImageSet {
  const images = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) images.fill(i / 10, i * 4, (i + 1) * 4);
  return { name: 't', shape: [2, 2, 1], count, images, labels: Int32Array.from({ length: count }, (_, i) => i % 3), classNames: ['a', 'b', 'c'] };
}

describe('batches', () => {
  it('covers every image once per epoch, pixels and labels aligned with indices', () => {
    const set = indexedSet();
    const seen: number[] = [];
    for (const b of batches(set, { batchSize: 4, seed: 7 })) {
      expect(b.x.length).toBe(b.size * 4);
      for (let i = 0; i < b.size; i++) {
        const j = b.indices[i];
        expect(b.x[i * 4 + 3]).toBeCloseTo(j / 10, 7);
        expect(b.y[i]).toBe(j % 3);
      }
      seen.push(...b.indices);
    }
    expect(seen.length).toBe(10);
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is deterministic per (seed, epoch) and differs across epochs and seeds', () => {
    const a = epochOrder(100, { seed: 1, epoch: 0 });
    expect(Array.from(epochOrder(100, { seed: 1, epoch: 0 }))).toEqual(Array.from(a));
    expect(Array.from(epochOrder(100, { seed: 1, epoch: 1 }))).not.toEqual(Array.from(a));
    expect(Array.from(epochOrder(100, { seed: 2, epoch: 0 }))).not.toEqual(Array.from(a));
    expect(Array.from(epochOrder(5, { shuffle: false }))).toEqual([0, 1, 2, 3, 4]);
  });

  it('resumes mid-epoch exactly (startBatch) and honours dropLast', () => {
    const set = indexedSet();
    const full = [...batches(set, { batchSize: 3, seed: 9, epoch: 4 })];
    const resumed = [...batches(set, { batchSize: 3, seed: 9, epoch: 4, startBatch: 2 })];
    expect(resumed.map((b) => b.batchIndex)).toEqual([2, 3]);
    expect(resumed.map((b) => Array.from(b.indices))).toEqual(full.slice(2).map((b) => Array.from(b.indices)));
    expect(full.map((b) => b.size)).toEqual([3, 3, 3, 1]);
    expect([...batches(set, { batchSize: 3, dropLast: true })].map((b) => b.size)).toEqual([3, 3, 3]);
    expect(batchCount(10, 3, true)).toBe(3);
  });

  it('normalises batches on the fly without touching the set; unlabelled sets give y = −1', () => {
    const set = indexedSet();
    const norm = computeNormalization(set);
    expect(norm.mean[0]).toBeCloseTo(0.45, 6);
    const before = set.images.slice();
    const b = batches(set, { batchSize: 10, shuffle: false, normalization: norm }).next().value!;
    expect(Array.from(b.x)).toEqual(Array.from(normalize(set.images, set.shape, norm)));
    expect(b.x[0]).toBeCloseTo((0 - norm.mean[0]) / norm.std[0], 6);
    expect(Array.from(set.images)).toEqual(Array.from(before));
    const unl = { ...set, labels: undefined };
    expect(Array.from(batches(unl, { batchSize: 2 }).next().value!.y)).toEqual([-1, -1]);
  });
});

describe('augmentation and timing', () => {
  it('crop+flip keeps values, shifts by at most pad and is seeded', () => {
    const shape: [number, number, number] = [4, 4, 1];
    const x = Float32Array.from({ length: 32 }, (_, i) => (i % 16) / 16 + 0.01);
    const a = x.slice();
    const b = x.slice();
    randomCropFlip(a, shape, new Rng(3), { pad: 1 });
    randomCropFlip(b, shape, new Rng(3), { pad: 1 });
    expect(Array.from(a)).toEqual(Array.from(b));
    const values = new Set(Array.from(x));
    for (const v of a) expect(v === 0 || values.has(v)).toBe(true);
    // With pad 0 and no flip nothing changes.
    const c = x.slice();
    randomCropFlip(c, shape, new Rng(1), { pad: 0, flip: false });
    expect(Array.from(c)).toEqual(Array.from(x));
  });

  it('timeBatching measures gather + normalise (and augmentation) per batch', () => {
    const t = timeBatching({ shape: [28, 28, 1], batchSize: 128, iterations: 10, warmup: 2, augment: 'crop-flip' });
    expect(t.msPerBatch).toBeGreaterThan(0);
    expect(t.msAugmentPerBatch).toBeGreaterThan(0);
    expect(t.imagesPerSecond).toBeGreaterThan(0);
  });
});
