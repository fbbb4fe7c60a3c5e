import { describe, expect, it } from 'vitest';
import {
  AUGMENTATIONS, affineSample, autocontrast, equalize, posterize, solarize, translateX, translateY, augmentImage,
} from '../../src/ares/augmentations.js';
import { Rng } from '../../src/util/rng.js';

const levels = (vals: number[]) => new Float32Array(vals.map((v) => v / 255));
const as255 = (a: Float32Array) => Array.from(a, (v) => Math.round(v * 255));

describe('the nine PixMix augmentations', () => {
  it('every op keeps the shape and the [0, 1] range, grey and RGB', () => {
    const rng = new Rng(1);
    for (const shape of [[28, 28, 1], [32, 32, 3], [10, 17, 3]] as [number, number, number][]) {
      const n = shape[0] * shape[1] * shape[2];
      const src = new Float32Array(n).map(() => rng.uniform());
      for (const { name, op } of AUGMENTATIONS) {
        const dst = new Float32Array(n).fill(NaN);
        op(src, dst, shape, rng, 3);
        for (const v of dst) {
          if (!(v >= 0 && v <= 1)) throw new Error(`${name} gave ${v}`);
        }
      }
    }
    expect(AUGMENTATIONS.map((a) => a.name)).toEqual(
      ['autocontrast', 'equalize', 'posterize', 'rotate', 'solarize', 'shear_x', 'shear_y', 'translate_x', 'translate_y']);
  });

  it('autocontrast stretches each channel to the full range (PIL truncation)', () => {
    // One pixel per row, two channels with different ranges.
    const src = levels([50, 10, 100, 20, 150, 30]);
    const dst = new Float32Array(6);
    autocontrast(src, dst, [3, 1, 2], new Rng(0), 3);
    // ch0: (v − 50)·255/100 -> 0, 127, 255; ch1: (v − 10)·255/20 -> 0, 127, 255
    expect(as255(dst)).toEqual([0, 0, 127, 127, 255, 255]);
    const flat = levels([80, 80, 80]);
    autocontrast(flat, dst.subarray(0, 3), [3, 1, 1], new Rng(0), 3);
    expect(as255(dst.subarray(0, 3))).toEqual([80, 80, 80]);
  });

  it('equalize follows PIL\'s table (hand-computed example)', () => {
    // Histogram: 0 ×4, 100 ×2, 200 ×2 (8 pixels). step = (8 − 2) // 255 = 0 -> identity in PIL.
    const small = levels([0, 0, 0, 0, 100, 100, 200, 200]);
    const out = new Float32Array(8);
    equalize(small, out, [8, 1, 1], new Rng(0), 3);
    expect(as255(out)).toEqual([0, 0, 0, 0, 100, 100, 200, 200]);
    // 1020 pixels: 0 ×510, 100 ×255, 200 ×255. step = (1020 − 255) // 255 = 3, n starts at 1.
    // lut[0] = 1 // 3 = 0; lut[100] = (1 + 510) // 3 = 170; lut[200] = (1 + 765) // 3 = 255.
    const vals = [...Array(510).fill(0), ...Array(255).fill(100), ...Array(255).fill(200)];
    const big = levels(vals);
    const eq = new Float32Array(big.length);
    equalize(big, eq, [1020, 1, 1], new Rng(0), 3);
    expect(as255(eq.subarray(0, 1))).toEqual([0]);
    expect(as255(eq.subarray(510, 511))).toEqual([170]);
    expect(as255(eq.subarray(900, 901))).toEqual([255]);
  });

  it('posterize keeps 3 or 4 bits at severity 3, solarize inverts the top of the range', () => {
    const src = levels(Array.from({ length: 256 }, (_, i) => i));
    const dst = new Float32Array(256);
    const seen = new Set<number>();
    for (let s = 0; s < 40; s++) {
      posterize(src, dst, [256, 1, 1], new Rng(s), 3);
      const q = as255(dst);
      const distinct = new Set(q).size;
      expect([8, 16]).toContain(distinct);
      seen.add(distinct);
      expect(q).toEqual(q.map((_, i) => i & (distinct === 16 ? 0xf0 : 0xe0)));
    }
    expect(seen.size).toBe(2);
    for (let s = 0; s < 40; s++) {
      solarize(src, dst, [256, 1, 1], new Rng(s), 3);
      const q = as255(dst);
      // threshold = 256 − level with level in [2, 76]: values below 180 are never touched.
      const t = q.findIndex((v, i) => v !== i);
      expect(t).toBeGreaterThanOrEqual(180);
      expect(q).toEqual(q.map((_, i) => (i < t ? i : 255 - i)));
    }
  });

  it('affine sampling: identity is exact, a quarter turn about the centre is an exact rotation, outside is black', () => {
    const shape: [number, number, number] = [4, 4, 1];
    const src = new Float32Array(16).map((_, i) => i / 16);
    const dst = new Float32Array(16);
    affineSample(src, dst, shape, [1, 0, 0, 0, 1, 0]);
    expect(Array.from(dst)).toEqual(Array.from(src));
    // in = (y, 4 − x): out(x, y) = src(y, 3 − x) in pixel indices.
    affineSample(src, dst, shape, [0, 1, 0, -1, 0, 4]);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expect(dst[y * 4 + x]).toBeCloseTo(src[(3 - x) * 4 + y], 6);
    // Shift left by one: the last column samples outside -> black.
    affineSample(src, dst, shape, [1, 0, 1, 0, 1, 0]);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 3; x++) expect(dst[y * 4 + x]).toBeCloseTo(src[y * 4 + x + 1], 6);
      expect(dst[y * 4 + 3]).toBe(0);
    }
    // Half-pixel shift blends neighbours bilinearly.
    affineSample(src, dst, shape, [1, 0, 0.5, 0, 1, 0]);
    expect(dst[1]).toBeCloseTo((src[1] + src[2]) / 2, 6);
  });

  it('translate moves by whole pixels, at most size/3·severity/10', () => {
    const shape: [number, number, number] = [30, 30, 1];
    const src = new Float32Array(900).map((_, i) => ((i * 37) % 101) / 100);
    const dst = new Float32Array(900);
    for (let s = 0; s < 30; s++) {
      translateX(src, dst, shape, new Rng(s), 3);
      // Find the shift t with dst(x) = src(x + t) in the middle row.
      const row = 15 * 30;
      const t = [-3, -2, -1, 0, 1, 2, 3].find((k) => Array.from({ length: 20 }, (_, i) => i + 5).every((x) => dst[row + x] === src[row + x + k]));
      expect(t).toBeDefined();
      translateY(src, dst, shape, new Rng(s), 3);
      expect(dst.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });

  it('augmentImage is deterministic by rng state', () => {
    const src = new Float32Array(28 * 28).map((_, i) => (i % 29) / 28);
    const a = new Float32Array(784), b = new Float32Array(784);
    for (let s = 0; s < 20; s++) {
      augmentImage(src, a, [28, 28, 1], new Rng(s), 3);
      augmentImage(src, b, [28, 28, 1], new Rng(s), 3);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });
});
