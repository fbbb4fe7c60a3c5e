import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateFractalBank, renderFractal } from '../../src/ares/fractals.js';
import { decodeFractalBank, defaultCacheDir, encodeFractalBank, fractalCachePath, loadFractalBank } from '../../src/ares/fractal-cache.js';
import { Rng } from '../../src/util/rng.js';

const dirs: string[] = [];
const tempDir = () => { const d = mkdtempSync(join(tmpdir(), 'ares-frac-')); dirs.push(d); return d; };
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const litShare = (img: Float32Array, c: number) => {
  let lit = 0;
  for (let p = 0; p < img.length / c; p++) if (img[p * c] > 0 || (c > 1 && (img[p * c + 1] > 0 || img[p * c + 2] > 0))) lit++;
  return lit / (img.length / c);
};

describe('fractals', () => {
  it('renders grey and RGB fractals of any size in [0, 1], quantised to 256 levels, not empty', () => {
    for (const shape of [[28, 28, 1], [32, 32, 3], [20, 36, 3], [9, 7, 1]] as [number, number, number][]) {
      const img = renderFractal(shape, new Rng(7));
      expect(img.length).toBe(shape[0] * shape[1] * shape[2]);
      const bad = img.filter((v) => !(v >= 0 && v <= 1) || Math.abs(v * 255 - Math.round(v * 255)) > 1e-4);
      expect(bad.length).toBe(0);
      expect(litShare(img, shape[2])).toBeGreaterThanOrEqual(0.08);
      // Log-scaled density normalised by its maximum: the brightest pixel is (near) full scale.
      expect(Math.max(...img)).toBeGreaterThan(0.5);
    }
  });

  it('RGB fractals are coloured (channels differ)', () => {
    const img = renderFractal([32, 32, 3], new Rng(3));
    let diff = 0;
    for (let p = 0; p < 1024; p++) diff += Math.abs(img[p * 3] - img[p * 3 + 1]) + Math.abs(img[p * 3 + 1] - img[p * 3 + 2]);
    expect(diff).toBeGreaterThan(1);
  });

  it('is deterministic by seed, and different seeds give different banks', () => {
    const a = generateFractalBank([16, 16, 1], 12, 5);
    const b = generateFractalBank([16, 16, 1], 12, 5);
    const c = generateFractalBank([16, 16, 1], 12, 6);
    expect(a.count).toBe(12);
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(Array.from(a.images)).not.toEqual(Array.from(c.images));
    // The images of one bank differ from each other.
    const first = a.images.subarray(0, 256), second = a.images.subarray(256, 512);
    expect(Array.from(first)).not.toEqual(Array.from(second));
  });

  it('rejects impossible requests with a clear error', () => {
    expect(() => renderFractal([2, 2, 1], new Rng(1))).toThrow(/height, width >= 4/);
    expect(() => generateFractalBank([8, 8, 1], 0, 1)).toThrow(/positive integer/);
    expect(() => renderFractal([16, 16, 1], new Rng(1), { minCoverage: 1.01, maxTries: 3 })).toThrow(/could not draw a fractal/);
  });
});

describe('fractal cache', () => {
  it('round-trips a bank exactly through the file format', () => {
    const bank = generateFractalBank([12, 10, 3], 5, 9);
    const decoded = decodeFractalBank(encodeFractalBank(bank, 9), [12, 10, 3], 5, 9);
    expect(typeof decoded).not.toBe('string');
    if (typeof decoded === 'string') return;
    expect(Array.from(decoded.images)).toEqual(Array.from(bank.images));
    expect(decoded.shape).toEqual([12, 10, 3]);
  });

  it('builds once, then reads back the same bank from disk', () => {
    const dir = tempDir();
    const first = loadFractalBank([14, 14, 1], 8, 2, { cacheDir: dir });
    expect(first.source).toBe('built');
    expect(existsSync(first.path)).toBe(true);
    expect(first.path).toBe(fractalCachePath(dir, [14, 14, 1], 8, 2));
    const second = loadFractalBank([14, 14, 1], 8, 2, { cacheDir: dir });
    expect(second.source).toBe('cache');
    expect(Array.from(second.bank.images)).toEqual(Array.from(first.bank.images));
    expect(Array.from(second.bank.images)).toEqual(Array.from(generateFractalBank([14, 14, 1], 8, 2).images));
  });

  it('detects a truncated, a bit-flipped and a foreign file and rebuilds it', () => {
    const dir = tempDir();
    const { path, bank } = loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir });
    const good = readFileSync(path);

    writeFileSync(path, good.subarray(0, good.length - 7));
    const truncated = loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir });
    expect(truncated.source).toBe('rebuilt');
    expect(truncated.reason).toMatch(/size/);
    expect(Array.from(truncated.bank.images)).toEqual(Array.from(bank.images));
    expect(readFileSync(path).equals(good)).toBe(true);

    const flipped = Buffer.from(good);
    flipped[good.length - 3] ^= 0x40;
    writeFileSync(path, flipped);
    const corrupt = loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir });
    expect(corrupt.source).toBe('rebuilt');
    expect(corrupt.reason).toMatch(/checksum/);

    const foreign = Buffer.from(good);
    foreign.write('NOTAFRAC', 0, 'latin1');
    writeFileSync(path, foreign);
    expect(loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir }).reason).toMatch(/magic/);

    // Same size but another seed's header: not silently reused.
    writeFileSync(path, encodeFractalBank(generateFractalBank([10, 10, 1], 4, 99), 99));
    const wrongSeed = loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir });
    expect(wrongSeed.reason).toMatch(/header/);
    expect(Array.from(wrongSeed.bank.images)).toEqual(Array.from(bank.images));
    expect(loadFractalBank([10, 10, 1], 4, 1, { cacheDir: dir }).source).toBe('cache');
  });

  it('uses ARES_CACHE as the default directory', () => {
    const before = process.env.ARES_CACHE;
    const dir = tempDir();
    process.env.ARES_CACHE = dir;
    try {
      expect(defaultCacheDir()).toBe(dir);
      const { path } = loadFractalBank([8, 8, 1], 2, 4);
      expect(path.startsWith(dir)).toBe(true);
    } finally {
      if (before === undefined) delete process.env.ARES_CACHE; else process.env.ARES_CACHE = before;
    }
  });
});
