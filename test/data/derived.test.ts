import { describe, expect, it } from 'vitest';
import { deriveSet, PATCH_GRID } from '../../src/data/generated.js';
import { prepareDataset } from '../../src/data/prepare.js';
import { resolveSource } from '../../src/data/sources.js';
import type { ImageSet } from '../../src/data/types.js';
import { Rng } from '../../src/util/rng.js';

function randomSet(count: number, shape: [number, number, number], seed = 1): ImageSet {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: count * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
  return { name: 'id:val', shape, count, images, split: 'train', labels: new Int32Array(count), classNames: ['a'] };
}
const image = (s: ImageSet, n: number) => Array.from(s.images.subarray(n * s.shape[0] * s.shape[1] * s.shape[2], (n + 1) * s.shape[0] * s.shape[1] * s.shape[2]));
const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

describe('validation OOD sets derived from ID validation images', () => {
  it('pixel-permuted moves whole pixels (all channels together) and keeps every value', () => {
    const from = randomSet(3, [5, 6, 3]);
    const out = deriveSet('pixel-permuted', from, 0);
    expect(out.count).toBe(3);
    expect(out.labels).toBeUndefined();
    for (let n = 0; n < 3; n++) {
      const a = image(from, n), b = image(out, n);
      expect(b).not.toEqual(a);
      const pixels = (v: number[]) => sorted(Array.from({ length: v.length / 3 }, (_, p) => v[p * 3] * 1e6 + v[p * 3 + 1] * 1e3 + v[p * 3 + 2]));
      expect(pixels(b)).toEqual(pixels(a));
    }
    expect(Array.from(deriveSet('pixel-permuted', from, 0).images)).toEqual(Array.from(out.images));
    expect(Array.from(deriveSet('pixel-permuted', from, 1).images)).not.toEqual(Array.from(out.images));
  });

  it('patch-shuffled places every patch of the 4×4 grid somewhere, whole', () => {
    for (const shape of [[28, 28, 1], [30, 30, 2]] as [number, number, number][]) {
      const from = randomSet(2, shape, 4);
      const out = deriveSet('patch-shuffled', from, 3);
      const [h, w, c] = shape;
      const cut = (n: number) => Array.from({ length: PATCH_GRID + 1 }, (_, i) => Math.round((i * n) / PATCH_GRID));
      const ys = cut(h), xs = cut(w);
      const patches = (img: number[]) => {
        const out: string[] = [];
        for (let i = 0; i < PATCH_GRID; i++) for (let j = 0; j < PATCH_GRID; j++) {
          const rows: number[] = [];
          for (let y = ys[i]; y < ys[i + 1]; y++) rows.push(...img.slice((y * w + xs[j]) * c, (y * w + xs[j + 1]) * c));
          out.push(rows.join(','));
        }
        return out;
      };
      for (let n = 0; n < 2; n++) {
        const a = patches(image(from, n)), b = patches(image(out, n));
        expect(sorted(b.map((p) => a.indexOf(p)))).toEqual(a.map((_, k) => k)); // a permutation of the patches
        expect(b).not.toEqual(a);
      }
    }
  });

  it('blurred removes detail: neighbouring pixels become close', () => {
    const from = randomSet(2, [28, 28, 1]);
    const out = deriveSet('blurred', from, 0);
    const roughness = (v: number[]) => v.slice(1).reduce((s, x, i) => s + Math.abs(x - v[i]), 0) / (v.length - 1);
    expect(roughness(image(out, 0))).toBeLessThan(0.05 * roughness(image(from, 0)));
  });

  it('prepareDataset builds them from its ID validation split; they cannot be a test set or an ID source', async () => {
    const d = await prepareDataset({ id: 'mnist', seed: 2, limit: 200, valOod: ['pixel-permuted', 'blurred', 'blobs'], oodCount: 50 });
    expect(d.valOod.map((s) => s.name)).toEqual(['pixel-permuted', 'blurred', 'blobs:train']);
    expect(d.valOod[0].count).toBe(d.val.count);
    const per = 28 * 28;
    for (let n = 0; n < d.val.count; n++) {
      expect(sorted(Array.from(d.valOod[0].images.subarray(n * per, (n + 1) * per)))).toEqual(sorted(Array.from(d.val.images.subarray(n * per, (n + 1) * per))));
    }
    await expect(resolveSource('blurred')).rejects.toThrow(/made from the ID validation split; it can only be a validation OOD set/);
    await expect(prepareDataset({ id: 'mnist', seed: 2, limit: 200, ood: ['patch-shuffled'] })).rejects.toThrow(/only be a validation OOD set/);
    await expect(prepareDataset({ id: 'mnist', seed: 2, limit: 200, valFraction: 0, valOod: ['blurred'] })).rejects.toThrow(/validation split, which is empty/);
  });
});
