import { describe, expect, it } from 'vitest';
import { generateFractalBank } from '../../src/ares/fractals.js';
import { escapeBatch, mixAdd, mixMultiply, mixingWeights, pixmixBatch } from '../../src/ares/pixmix.js';
import { Rng } from '../../src/util/rng.js';

const SHAPE: [number, number, number] = [16, 16, 1];
const bank = generateFractalBank(SHAPE, 16, 1);

/** Distinct, structured grey "images": a bright bar at a different place in each. */
function toyBatch(b: number, shape = SHAPE): Float32Array {
  const [h, w, c] = shape;
  const x = new Float32Array(b * h * w * c);
  for (let i = 0; i < b; i++) {
    for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let k = 0; k < c; k++) {
      const on = (i % 2 === 0 ? xx : y) % h === (3 * i) % h || Math.abs(xx - y) === i % 5;
      x[((i * h + y) * w + xx) * c + k] = on ? 0.9 : 0.1 + 0.05 * k;
    }
  }
  return x;
}

describe('PixMix mixing operations', () => {
  it('add mixes in [−1, 1] space and clips', () => {
    const x = new Float32Array([0, 0.5, 1, 0.25]);
    const y = new Float32Array([1, 0.5, 0, 0.75]);
    mixAdd(x, y, 0.7, 0.4);
    const expect1 = [0, 0.5, 1, 0.25].map((v, i) => {
      const r = (0.7 * (2 * v - 1) + 0.4 * (2 * [1, 0.5, 0, 0.75][i] - 1) + 1) / 2;
      return Math.min(1, Math.max(0, r));
    });
    expect(Array.from(x)).toEqual(expect1.map((v) => Math.fround(v)));
  });

  it('multiply is the weighted geometric mean in [0, 2] space, finite for zero pixels and negative weights', () => {
    const xs = [0, 0.2, 0.5, 0.9, 0.3], ys = [0.4, 0, 0.5, 0.3, 1];
    for (const [a, b] of [[0.8, 0.3], [1.6, -0.5], [1.2, -1]]) {
      const x = new Float32Array(xs);
      mixMultiply(x, new Float32Array(ys), a, b);
      xs.forEach((v, i) => {
        const ref = Math.min(1, Math.max(0, (Math.pow(2 * v, a) * Math.pow(Math.max(2 * ys[i], 1e-37), b)) / 2));
        expect(x[i]).toBeCloseTo(ref, 6);
      });
    }
  });

  it('weights follow PixMix: (Beta(β,1), Beta(1,β)) or (1 + Beta(1,β), −Beta(1,β)), half each', () => {
    const rng = new Rng(4);
    let convex = 0, sumA = 0, sumB = 0, outOfRange = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const [a, b] = mixingWeights(rng, 3);
      if (b >= 0) { convex++; sumA += a; sumB += b; if (a > 1 || b > 1) outOfRange++; }
      else if (a < 1 || a > 2 || b < -1) outOfRange++;
    }
    expect(outOfRange).toBe(0);
    expect(convex / n).toBeCloseTo(0.5, 1);
    expect(sumA / convex).toBeCloseTo(0.75, 1); // E Beta(3, 1) = 3/4
    expect(sumB / convex).toBeCloseTo(0.25, 1); // E Beta(1, 3) = 1/4
  });
});

describe('pixmixBatch (Escape)', () => {
  it('returns finite values in [0, 1] of the same layout, grey and RGB, and changes the images', () => {
    for (const shape of [SHAPE, [12, 10, 3]] as [number, number, number][]) {
      const fr = generateFractalBank(shape, 6, 2);
      const x = toyBatch(20, shape);
      const before = x.slice();
      const out = pixmixBatch(x, shape, fr, new Rng(3));
      expect(out.length).toBe(x.length);
      expect(out.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
      expect(Array.from(x)).toEqual(Array.from(before)); // input untouched
      let changed = 0;
      for (let i = 0; i < out.length; i++) if (Math.abs(out[i] - x[i]) > 1e-6) changed++;
      expect(changed / out.length).toBeGreaterThan(0.2);
    }
  });

  it('keeps the labels: same labels in the same order, and output i is made from input i', () => {
    const b = 24, size = 256;
    const x = toyBatch(b);
    const labels = Int32Array.from({ length: b }, (_, i) => (i * 7) % 10);
    const out = escapeBatch({ images: x, labels }, SHAPE, bank, new Rng(11));
    expect(Array.from(out.labels)).toEqual(Array.from(labels));
    // Correlate each output with every input: its own source should be the best match for most.
    const corr = (a: Float32Array, c: Float32Array) => {
      let ma = 0, mc = 0;
      for (let i = 0; i < a.length; i++) { ma += a[i]; mc += c[i]; }
      ma /= a.length; mc /= c.length;
      let sab = 0, saa = 0, scc = 0;
      for (let i = 0; i < a.length; i++) { sab += (a[i] - ma) * (c[i] - mc); saa += (a[i] - ma) ** 2; scc += (c[i] - mc) ** 2; }
      return sab / Math.sqrt(saa * scc + 1e-12);
    };
    let own = 0;
    for (let i = 0; i < b; i++) {
      const o = out.images.subarray(i * size, (i + 1) * size);
      const scores = Array.from({ length: b }, (_, j) => corr(o, x.subarray(j * size, (j + 1) * size)));
      if (scores.indexOf(Math.max(...scores)) === i) own++;
    }
    expect(own / b).toBeGreaterThan(0.6);
  });

  it('is deterministic by seed; another seed gives another batch', () => {
    const x = toyBatch(8);
    const a = pixmixBatch(x, SHAPE, bank, new Rng(5));
    const b = pixmixBatch(x, SHAPE, bank, new Rng(5));
    const c = pixmixBatch(x, SHAPE, bank, new Rng(6));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('the first round always mixes the fractal in, whatever the other settings say', () => {
    // One fractal in the bank, one round, no augmented start: the output is an elementwise
    // monotone function of that fractal, even when later rounds would pick augmentations.
    const one = generateFractalBank(SHAPE, 1, 12);
    const f = one.images;
    const x = new Float32Array(40 * 256).fill(0.5);
    const out = pixmixBatch(x, SHAPE, one, new Rng(8), { rounds: 1, startAugmentProb: 0, augmentMixProb: 1 });
    const mf = f.reduce((s, v) => s + v, 0) / 256;
    for (let i = 0; i < 40; i++) {
      const img = out.subarray(i * 256, (i + 1) * 256);
      const mo = img.reduce((s, v) => s + v, 0) / 256;
      let sab = 0, saa = 0, sbb = 0;
      for (let p = 0; p < 256; p++) { sab += (img[p] - mo) * (f[p] - mf); saa += (img[p] - mo) ** 2; sbb += (f[p] - mf) ** 2; }
      expect(Math.abs(sab) / Math.sqrt(saa * sbb + 1e-12)).toBeGreaterThan(0.5);
    }
  });

  it('rejects a bank of another shape, a ragged batch and bad settings, naming the problem', () => {
    const x = toyBatch(2);
    expect(() => pixmixBatch(x, [8, 8, 1], bank, new Rng(1))).toThrow(/fractal bank .* 16x16x1 .* 8x8x1/);
    expect(() => pixmixBatch(x.subarray(0, 300), SHAPE, bank, new Rng(1))).toThrow(/whole number/);
    expect(() => pixmixBatch(x, SHAPE, bank, new Rng(1), { rounds: 0 })).toThrow(/rounds/);
    expect(() => pixmixBatch(x, SHAPE, bank, new Rng(1), {}, x)).toThrow(/share memory/);
    expect(() => escapeBatch({ images: x, labels: new Int32Array(3) }, SHAPE, bank, new Rng(1))).toThrow(/3 labels for 2 images/);
  });
});
