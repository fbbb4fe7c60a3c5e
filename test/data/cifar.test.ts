import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadSource } from '../../src/data/load.js';
import { parseCifar } from '../../src/data/cifar.js';
import { CIFAR100_COARSE_NAMES, CIFAR100_FINE_NAMES, CIFAR10_NAMES } from '../../src/data/class-names.js';
import { cifarRecord, concat, runCli, tempDir, writeFile } from './helpers.js';

const { dir, cleanup } = tempDir('cifar');
afterAll(cleanup);

// A pixel byte that differs by record, channel and position, so any plane or offset mix-up shows.
const px = (n: number) => (p: number, ch: number) => (n * 31 + ch * 85 + p * 7) % 256;
/** The [0,1] value the reader must give for record n at (row, col, ch). */
const expected = (n: number, row: number, col: number, ch: number) => px(n)(row * 32 + col, ch) / 255;

describe('CIFAR-10 binary batches', () => {
  const d = join(dir, 'cifar-10-batches-bin');
  writeFile(join(d, 'data_batch_1.bin'), concat([cifarRecord([3], px(0)), cifarRecord([9], px(1))]));
  writeFile(join(d, 'data_batch_2.bin'), concat([cifarRecord([0], px(2))]));
  writeFile(join(d, 'test_batch.bin'), concat([cifarRecord([7], px(3)), cifarRecord([1], px(4)), cifarRecord([5], px(5))]));
  writeFile(join(d, 'batches.meta.txt'), 'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');

  it('decodes label bytes and R/G/B planes into NHWC at known positions', () => {
    const bytes = concat([cifarRecord([3], px(0)), cifarRecord([9], px(1))]);
    const b = parseCifar(bytes, 'mem', 'cifar10');
    expect(b.count).toBe(2);
    expect(Array.from(b.labels)).toEqual([3, 9]);
    for (const [n, row, col, ch] of [[0, 0, 0, 0], [0, 0, 0, 2], [1, 31, 31, 1], [1, 5, 17, 0], [0, 12, 3, 2]]) {
      expect(b.images[((n * 32 + row) * 32 + col) * 3 + ch]).toBeCloseTo(expected(n, row, col, ch), 7);
    }
    // The very first pixel is the record's byte 1 (R), byte 1025 (G) and byte 2049 (B).
    expect(Math.round(b.images[0] * 255)).toBe(bytes[1]);
    expect(Math.round(b.images[1] * 255)).toBe(bytes[1025]);
    expect(Math.round(b.images[2] * 255)).toBe(bytes[2049]);
  });

  it('reads the published folder: data_batch_1..n as train (in order), test_batch as test, names from batches.meta.txt', async () => {
    const train = await loadSource(d);
    expect(train.count).toBe(3);
    expect(train.shape).toEqual([32, 32, 3]);
    expect(Array.from(train.labels!)).toEqual([3, 9, 0]);
    expect(train.classNames![0]).toBe('plane');
    // Third training image comes from data_batch_2's first record.
    expect(train.images[2 * 3072 + (4 * 32 + 9) * 3 + 1]).toBeCloseTo(expected(2, 4, 9, 1), 7);
    const test = await loadSource(`${d}:test`);
    expect(Array.from(test.labels!)).toEqual([7, 1, 5]);
  });

  it('uses the standard names without a meta file, and reads a single batch file', async () => {
    const f = writeFile(join(dir, 'single', 'data_batch_1.bin'), cifarRecord([4], px(9)));
    const set = await loadSource(f);
    expect(set.classNames).toEqual(CIFAR10_NAMES);
    expect(set.labels![0]).toBe(4);
  });

  it('`ares data inspect` reports per-split counts and classes', async () => {
    const r = await runCli(['data', 'inspect', d, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.format).toBe('cifar10');
    expect(rep.splits.train.count).toBe(3);
    expect(rep.splits.test.count).toBe(3);
    expect(rep.splits.test.classes.find((c: { name: string }) => c.name === 'horse').count).toBe(1);
  });
});

describe('CIFAR-100 binary (coarse + fine labels)', () => {
  const d = join(dir, 'cifar-100-binary');
  writeFile(join(d, 'train.bin'), concat([cifarRecord([11, 99], px(0)), cifarRecord([19, 0], px(1))]));
  writeFile(join(d, 'test.bin'), concat([cifarRecord([4, 42], px(2))]));

  it('reads coarse then fine label bytes, fine by default', async () => {
    const train = await loadSource(d);
    expect(Array.from(train.labels!)).toEqual([99, 0]);
    expect(train.classNames).toEqual(CIFAR100_FINE_NAMES);
    expect(train.images[3072 + (31 * 32 + 0) * 3 + 2]).toBeCloseTo(expected(1, 31, 0, 2), 7);
    const coarse = await loadSource(`${d}:train`, { cifar100Labels: 'coarse' });
    expect(Array.from(coarse.labels!)).toEqual([11, 19]);
    expect(coarse.classNames).toEqual(CIFAR100_COARSE_NAMES);
    const test = await loadSource(`${d}:test`);
    expect(test.classNames![test.labels![0]]).toBe('leopard');
  });

  it('parses records of 3074 bytes with both labels', () => {
    const b = parseCifar(cifarRecord([2, 57], px(7)), 'mem', 'cifar100');
    expect(b.coarse![0]).toBe(2);
    expect(b.labels[0]).toBe(57);
    expect(b.images[5 * 3 + 1]).toBeCloseTo(expected(7, 0, 5, 1), 7);
  });
});
