import { describe, expect, it } from 'vitest';
import { conformSet, convertChannels, limitSet, resizeImages, subsetClasses } from '../../src/data/transform.js';
import { generateSet } from '../../src/data/generated.js';
import { loadSource } from '../../src/data/load.js';
import type { ImageSet } from '../../src/data/types.js';

describe('resize and channels', () => {
  it('leaves a same-size image unchanged and keeps constant images constant', () => {
    const img = Float32Array.from({ length: 12 }, (_, i) => i / 12);
    expect(Array.from(resizeImages(img, 1, [3, 4, 1], [3, 4], 'stretch'))).toEqual(Array.from(img).map((v) => Math.fround(v)));
    const flat = new Float32Array(28 * 28 * 3).fill(0.3);
    for (const v of resizeImages(flat, 1, [28, 28, 3], [32, 32], 'crop')) expect(v).toBeCloseTo(0.3, 6);
    for (const v of resizeImages(flat, 1, [28, 28, 3], [9, 20], 'crop')) expect(v).toBeCloseTo(0.3, 6);
  });

  it('shrinking widens the triangle filter (PIL-style antialiasing), and crop takes the centre', () => {
    // 1×4 → 1×2: scale ½ so support 2; output 0 is centred at input 0.5, so taps 0, 1, 2 weigh 3:3:1
    // (the tap at −1 falls outside and the weights are renormalised, as PIL does).
    const [a, b, c, d] = [0.1, 0.4, 0.6, 0.9];
    const out = resizeImages(Float32Array.of(a, b, c, d), 1, [1, 4, 1], [1, 2], 'stretch');
    expect(out[0]).toBeCloseTo((3 * a + 3 * b + c) / 7, 6);
    expect(out[1]).toBeCloseTo((b + 3 * c + 3 * d) / 7, 6);
    // Upscaling 1×2 → 1×4 is plain bilinear with half-pixel centres.
    const up = resizeImages(Float32Array.of(0, 1), 1, [1, 2, 1], [1, 4], 'stretch');
    expect(Array.from(up)).toEqual([0, 0.25, 0.75, 1]);
    // 2×4 → 2×2 with crop: the middle two columns.
    const wide = Float32Array.from([0, 0.5, 0.7, 1, 0, 0.5, 0.7, 1]);
    const cropped = resizeImages(wide, 1, [2, 4, 1], [2, 2], 'crop');
    expect(Array.from(cropped)).toEqual([0.5, 0.7, 0.5, 0.7].map(Math.fround));
  });

  it('grey ↔ RGB: replication and ITU-R 601 luma', () => {
    expect(Array.from(convertChannels(Float32Array.of(0.5), 1, 1, 3))).toEqual([0.5, 0.5, 0.5]);
    expect(convertChannels(Float32Array.of(1, 0, 0), 1, 3, 1)[0]).toBeCloseTo(0.299, 6);
    expect(convertChannels(Float32Array.of(0.2, 0.2, 0.2), 1, 3, 1)[0]).toBeCloseTo(0.2, 6);
  });

  it('conformSet brings MNIST to CIFAR shape (32×32×3) with values in [0, 1]', async () => {
    const m = await loadSource('mnist', { limit: 20, seed: 1, shape: [32, 32, 3] });
    expect(m.shape).toEqual([32, 32, 3]);
    expect(m.images.length).toBe(20 * 32 * 32 * 3);
    for (const v of m.images) expect(v >= 0 && v <= 1).toBe(true);
    const same = conformSet(m, [32, 32, 3]);
    expect(same).toBe(m);
  });
});

describe('subsets', () => {
  const set: ImageSet = {
    name: 's', shape: [1, 1, 1], count: 6, images: Float32Array.from([0, 1, 2, 3, 4, 5].map((v) => v / 10)),
    labels: Int32Array.from([0, 1, 2, 0, 1, 2]), classNames: ['a', 'b', 'c'],
  };

  it('class subsets relabel in the order given', () => {
    const s = subsetClasses(set, [2, 0]);
    expect(Array.from(s.labels!)).toEqual([1, 0, 1, 0]);
    expect(s.classNames).toEqual(['c', 'a']);
    expect(Array.from(s.images)).toEqual([0, 0.2, 0.3, 0.5].map(Math.fround));
  });

  it('limit is a seeded random subset in original order', () => {
    const a = limitSet(set, 3, 11);
    expect(a.count).toBe(3);
    expect(Array.from(limitSet(set, 3, 11).images)).toEqual(Array.from(a.images));
    const sorted = Array.from(a.images);
    expect(sorted).toEqual([...sorted].sort((x, y) => x - y));
    expect(limitSet(set, 10, 1)).toBe(set);
  });
});

describe('generated OOD sets', () => {
  it('are seeded, in [0, 1], at any shape, with different train and test draws', () => {
    for (const kind of ['gaussian', 'uniform', 'blobs'] as const) {
      const a = generateSet(kind, { shape: [8, 6, 3], count: 5, seed: 4 });
      const b = generateSet(kind, { shape: [8, 6, 3], count: 5, seed: 4 });
      const t = generateSet(kind, { shape: [8, 6, 3], count: 5, seed: 4, split: 'test' });
      expect(a.images.length).toBe(5 * 8 * 6 * 3);
      expect(Array.from(a.images)).toEqual(Array.from(b.images));
      expect(Array.from(t.images)).not.toEqual(Array.from(a.images));
      for (const v of a.images) expect(v >= 0 && v <= 1).toBe(true);
    }
  });

  it('have the intended statistics', () => {
    const g = generateSet('gaussian', { shape: [28, 28, 1], count: 200, seed: 1 });
    const u = generateSet('uniform', { shape: [28, 28, 1], count: 200, seed: 1 });
    const b = generateSet('blobs', { shape: [32, 32, 3], count: 50, seed: 1 });
    const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
    expect(mean(g.images)).toBeCloseTo(0.5, 2);
    expect(mean(u.images)).toBeCloseTo(0.5, 2);
    // Blobs: zeros below the 0.75 threshold, smooth values above it, both common.
    const zeros = b.images.filter((v) => v === 0).length / b.images.length;
    expect(zeros).toBeGreaterThan(0.2);
    expect(zeros).toBeLessThan(0.9);
    expect(b.images.every((v) => v === 0 || v >= 0.75)).toBe(true);
  });
});
