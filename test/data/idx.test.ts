import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadSource } from '../../src/data/load.js';
import { parseIdx } from '../../src/data/idx.js';
import { gz, idxBytes, tempDir, writeFile } from './helpers.js';

const { dir, cleanup } = tempDir('idx');
afterAll(cleanup);

// Three 2×3 grey images with distinct known bytes, labels 2, 0, 1.
const pixels = Array.from({ length: 3 * 6 }, (_, i) => (i * 13 + 7) % 256);
const labels = [2, 0, 1];

describe('IDX reader', () => {
  it('decodes the published byte layout (header, big-endian dims, values)', () => {
    const arr = parseIdx(idxBytes([3, 2, 3], pixels), 'x');
    expect(arr.dtype).toBe('ubyte');
    expect(arr.dims).toEqual([3, 2, 3]);
    expect(Array.from(arr.data)).toEqual(pixels);
    const ints = parseIdx(idxBytes([3], [70000, -5, 1], 'int'), 'y');
    expect(Array.from(ints.data)).toEqual([70000, -5, 1]);
    const dbl = parseIdx(idxBytes([2], [0.25, 0.5], 'double'), 'z');
    expect(Array.from(dbl.data)).toEqual([0.25, 0.5]);
  });

  it('reads a folder of gzipped train/t10k files with labels, by split', async () => {
    const d = join(dir, 'gzfolder');
    writeFile(join(d, 'train-images-idx3-ubyte.gz'), gz(idxBytes([3, 2, 3], pixels)));
    writeFile(join(d, 'train-labels-idx1-ubyte.gz'), gz(idxBytes([3], labels)));
    writeFile(join(d, 't10k-images-idx3-ubyte.gz'), gz(idxBytes([1, 2, 3], pixels.slice(0, 6))));
    writeFile(join(d, 't10k-labels-idx1-ubyte.gz'), gz(idxBytes([1], [9])));
    const train = await loadSource(d);
    expect(train.name).toBe(`${d}:train`);
    expect(train.split).toBe('train');
    expect(train.shape).toEqual([2, 3, 1]);
    expect(train.count).toBe(3);
    expect(Array.from(train.labels!)).toEqual(labels);
    expect(train.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // Image 1, row 1, column 2 is byte 6 + 3 + 2 = 11 of the data.
    expect(train.images[6 + 3 + 2]).toBeCloseTo(pixels[11] / 255, 7);
    const test = await loadSource(`${d}:test`);
    expect(test.count).toBe(1);
    expect(Array.from(test.labels!)).toEqual([9]);
  });

  it('reads an uncompressed images file given directly, finding its labels file, and classes.txt names', async () => {
    const d = join(dir, 'plain');
    writeFile(join(d, 'train-images-idx3-ubyte'), idxBytes([3, 2, 3], pixels));
    writeFile(join(d, 'train-labels-idx1-ubyte'), idxBytes([3], labels));
    writeFile(join(d, 'classes.txt'), 'cat\ndog\nbird\n');
    const set = await loadSource(join(d, 'train-images-idx3-ubyte'));
    expect(set.split).toBe('all');
    expect(Array.from(set.labels!)).toEqual(labels);
    expect(set.classNames).toEqual(['cat', 'dog', 'bird']);
    expect(Array.from(set.images.slice(0, 6), (v) => Math.round(v * 255))).toEqual(pixels.slice(0, 6));
  });

  it('reads float images in [0, 1] and [N, H, W, 3] colour images', async () => {
    const f = writeFile(join(dir, 'float', 'imgs-images-idx3-float'), idxBytes([2, 1, 2], [0, 0.25, 0.5, 1], 'float'));
    const set = await loadSource(f);
    expect(Array.from(set.images)).toEqual([0, 0.25, 0.5, 1]);
    expect(set.labels).toBeUndefined();
    const rgb = writeFile(join(dir, 'rgb', 'x-images-idx3-ubyte'), idxBytes([1, 1, 2, 3], [255, 0, 0, 0, 0, 255]));
    const c = await loadSource(rgb);
    expect(c.shape).toEqual([1, 2, 3]);
    expect(Array.from(c.images)).toEqual([1, 0, 0, 0, 0, 1]);
  });
});
