import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadSource, openFolderSource } from '../../src/data/load.js';
import { folderBatches } from '../../src/data/batches.js';
import { runCli, tempDir, writeFile } from './helpers.js';

const { dir, cleanup } = tempDir('folder');
afterAll(cleanup);

/** Known bytes: grey pixel (y, x) of image k. */
const greyByte = (k: number, y: number, x: number) => (k * 40 + y * 16 + x * 3) % 256;

async function writeGrey(file: string, k: number, h = 4, w = 4, format: 'png' | 'webp' | 'jpeg' = 'png') {
  const buf = Buffer.alloc(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf[y * w + x] = greyByte(k, y, x);
  mkdirSync(join(file, '..'), { recursive: true });
  let p = sharp(buf, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w');
  p = format === 'png' ? p.png() : format === 'webp' ? p.webp({ lossless: true }) : p.jpeg({ quality: 95 });
  await p.toFile(file);
}

async function writeRgb(file: string, rgb: [number, number, number], h = 4, w = 4, format: 'png' | 'webp' | 'jpeg' = 'png') {
  mkdirSync(join(file, '..'), { recursive: true });
  let p = sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  p = format === 'png' ? p.png() : format === 'webp' ? p.webp({ lossless: true }) : p.jpeg({ quality: 95 });
  await p.toFile(file);
}

const classes = join(dir, 'classes');
const flat = join(dir, 'flat');
const split = join(dir, 'split');

beforeAll(async () => {
  // ImageFolder layout, PNG + WebP + JPEG, all grey.
  await writeGrey(join(classes, 'cat', 'a.png'), 0);
  await writeGrey(join(classes, 'cat', 'nested', 'b.png'), 1);
  await writeGrey(join(classes, 'dog', 'c.png'), 2);
  await writeGrey(join(classes, 'dog', 'd.jpg'), 3, 4, 4, 'jpeg');
  writeFile(join(classes, '.DS_Store'), 'junk that must be ignored');
  // Flat OOD-style folder with colour images.
  await writeRgb(join(flat, '001.png'), [255, 0, 0]);
  await writeRgb(join(flat, '002.webp'), [0, 128, 255], 4, 4, 'webp');
  await writeRgb(join(flat, '003.jpg'), [10, 200, 30], 4, 4, 'jpeg');
  // train/ and test/ layout; test lacks one class, labels must still agree.
  await writeGrey(join(split, 'train', 'ant', '1.png'), 4);
  await writeGrey(join(split, 'train', 'bee', '2.png'), 5);
  await writeGrey(join(split, 'test', 'bee', '3.png'), 6);
});

describe('image folders', () => {
  it('reads class sub-folders (sorted class names, recursive) with exact lossless pixels', async () => {
    const set = await loadSource(classes);
    expect(set.classNames).toEqual(['cat', 'dog']);
    expect(set.count).toBe(4);
    expect(set.shape).toEqual([4, 4, 1]);
    expect(set.files!.map((f) => f.slice(classes.length + 1))).toEqual(['cat/a.png', 'cat/nested/b.png', 'dog/c.png', 'dog/d.jpg']);
    expect(Array.from(set.labels!)).toEqual([0, 0, 1, 1]);
    // PNG gives back the exact bytes; JPEG within a few levels.
    for (const [n, k, tol] of [[0, 0, 1e-4], [1, 1, 1e-4], [2, 2, 1e-4], [3, 3, 6]]) {
      for (const [y, x] of [[0, 0], [1, 2], [3, 3]]) {
        expect(Math.abs(set.images[n * 16 + y * 4 + x] * 255 - greyByte(k, y, x))).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('reads a flat folder as unlabelled colour images, in name order', async () => {
    const set = await loadSource(flat);
    expect(set.labels).toBeUndefined();
    expect(set.shape).toEqual([4, 4, 3]);
    expect(Array.from(set.images.slice(0, 3))).toEqual([1, 0, 0]);
    expect(Array.from(set.images.slice(48, 51), (v) => Math.round(v * 255))).toEqual([0, 128, 255]);
    const jpg = Array.from(set.images.slice(96, 99), (v) => v * 255);
    [10, 200, 30].forEach((v, i) => expect(Math.abs(jpg[i] - v)).toBeLessThan(6));
  });

  it('reads lossless WebP exactly (WebP has no grey mode: grey content comes back as R = G = B)', async () => {
    const f = join(dir, 'webp', 'g.webp');
    await writeGrey(f, 7, 4, 4, 'webp');
    const rgb = await loadSource(f);
    expect(rgb.shape).toEqual([4, 4, 3]);
    expect(Math.round(rgb.images[3 * 5 + 2] * 255)).toBe(greyByte(7, 1, 1));
    const grey = await loadSource(f, { shape: [4, 4, 1] });
    for (let i = 0; i < 16; i++) expect(Math.abs(grey.images[i] * 255 - greyByte(7, i >> 2, i & 3))).toBeLessThan(1e-3);
  });

  it('resizes and converts channels to a requested shape', async () => {
    const grey = await loadSource(flat, { shape: [8, 6, 1] });
    expect(grey.shape).toEqual([8, 6, 1]);
    expect(grey.images.length).toBe(3 * 48);
    // Pure red in ITU-R 601 luma is 0.299 (as PIL's convert('L')).
    expect(Math.abs(grey.images[0] - 0.299)).toBeLessThan(2 / 255);
    const rgb = await loadSource(classes, { shape: [4, 4, 3] });
    expect(rgb.images[0]).toBe(rgb.images[1]);
    expect(rgb.images[1]).toBe(rgb.images[2]);
  });

  it('reads train/ and test/ split folders with one class list', async () => {
    const train = await loadSource(split);
    const test = await loadSource(`${split}:test`);
    expect(train.classNames).toEqual(['ant', 'bee']);
    expect(test.classNames).toEqual(['ant', 'bee']);
    expect(Array.from(test.labels!)).toEqual([1]);
  });

  it('selects classes and seeded limits before decoding', async () => {
    const dogs = await loadSource(classes, { classes: [1] });
    expect(dogs.classNames).toEqual(['dog']);
    expect(Array.from(dogs.labels!)).toEqual([0, 0]);
    const a = await loadSource(classes, { limit: 2, seed: 5 });
    const b = await loadSource(classes, { limit: 2, seed: 5 });
    expect(a.count).toBe(2);
    expect(a.files).toEqual(b.files);
  });

  it('streams a folder in batches, seeded and resumable', async () => {
    const reader = await openFolderSource(classes);
    const sizes: number[] = [];
    for await (const b of reader.batches(3)) sizes.push(b.count);
    expect(sizes).toEqual([3, 1]);
    const all: number[] = [];
    for await (const b of folderBatches(reader, { batchSize: 2, seed: 1, epoch: 0 })) all.push(...b.indices);
    expect([...all].sort()).toEqual([0, 1, 2, 3]);
    const resumed: number[] = [];
    for await (const b of folderBatches(reader, { batchSize: 2, seed: 1, epoch: 0, startBatch: 1 })) resumed.push(...b.indices);
    expect(resumed).toEqual(all.slice(2));
  });

  it('`ares data inspect` streams a folder and reports classes', async () => {
    const r = await runCli(['data', 'inspect', classes, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.format).toBe('image-folder');
    expect(rep.splits.all.count).toBe(4);
    expect(rep.splits.all.classes).toEqual([{ index: 0, name: 'cat', count: 2 }, { index: 1, name: 'dog', count: 2 }]);
  });
});
