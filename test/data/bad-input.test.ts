import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { loadSource } from '../../src/data/load.js';
import { inspectSource } from '../../src/data/inspect.js';
import { cifarRecord, concat, expectAresError, gz, idxBytes, runCli, tempDir, writeFile } from './helpers.js';

/**
 * Every bad-input case of the issue: the library throws an AresError naming the file and the
 * problem (exit code 1), and `node bin/ares.js data inspect` prints the same message and exits 1.
 */
const { dir, cleanup } = tempDir('bad');
afterAll(cleanup);
const p = (...parts: string[]) => join(dir, ...parts);

async function png(file: string, w: number, h: number, value = 100): Promise<void> {
  writeFile(file, await sharp({ create: { width: w, height: h, channels: 3, background: { r: value, g: value, b: value } } }).png().toBuffer());
}

beforeAll(async () => {
  writeFile(p('idx-trunc', 'train-images-idx3-ubyte'), idxBytes([3, 2, 2], new Array(12).fill(1)).subarray(0, 20));
  writeFile(p('idx-magic', 'train-images-idx3-ubyte'), concat([Uint8Array.of(0x12, 0x34), idxBytes([1, 2, 2], [1, 2, 3, 4]).subarray(2)]));
  writeFile(p('idx-count', 'train-images-idx3-ubyte'), idxBytes([3, 2, 2], new Array(12).fill(9)));
  writeFile(p('idx-count', 'train-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
  writeFile(p('idx-label', 'train-images-idx3-ubyte.gz'), gz(idxBytes([2, 2, 2], new Array(8).fill(9))));
  writeFile(p('idx-label', 'train-labels-idx1-ubyte.gz'), gz(idxBytes([2], [0, 5])));
  writeFile(p('idx-label', 'classes.txt'), 'a\nb\nc\n');
  writeFile(p('idx-nan', 'x-images-idx3-float'), idxBytes([1, 1, 3], [0.5, NaN, 0.1], 'float'));
  writeFile(p('idx-range', 'x-images-idx3-float'), idxBytes([1, 1, 2], [0.5, 1.5], 'float'));
  writeFile(p('idx-extra', 'train-images-idx3-ubyte'), concat([idxBytes([1, 2, 2], [1, 2, 3, 4]), Uint8Array.of(7, 7)]));
  writeFile(p('idx-gz', 'train-images-idx3-ubyte.gz'), gz(idxBytes([4, 8, 8], new Array(256).fill(3))).subarray(0, 30));
  writeFile(p('idx-labels-as-images', 'train-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
  writeFile(p('empty-file', 'train-images-idx3-ubyte'), new Uint8Array(0));
  writeFile(p('cifar-trunc', 'data_batch_1.bin'), concat([cifarRecord([1], () => 5), cifarRecord([2], () => 6)]).subarray(0, 3073 + 1000));
  writeFile(p('cifar-label', 'data_batch_1.bin'), concat([cifarRecord([1], () => 5), cifarRecord([10], () => 6)]));
  writeFile(p('cifar100-label', 'train.bin'), concat([cifarRecord([3, 100], () => 5)]));
  writeFile(p('cifar100-coarse', 'test.bin'), concat([cifarRecord([20, 1], () => 5)]));
  writeFile(p('cifar-names', 'data_batch_1.bin'), cifarRecord([1], () => 5));
  writeFile(p('cifar-names', 'batches.meta.txt'), 'only\nthree\nnames\n');
  writeFile(p('empty-folder', '.hidden'), 'ignored');
  await png(p('non-image', 'a.png'), 4, 4);
  writeFile(p('non-image', 'notes.txt'), 'not an image');
  await png(p('corrupt', 'a.png'), 16, 16);
  const good = readFileSync(p('corrupt', 'a.png'));
  writeFile(p('corrupt', 'b.png'), good.subarray(0, Math.floor(good.length * 0.6)));
  await png(p('mixed', 'a.png'), 8, 8);
  await png(p('mixed', 'b.png'), 8, 10);
  await png(p('mixed-layout', 'a.png'), 4, 4);
  await png(p('mixed-layout', 'cls', 'b.png'), 4, 4);
  await png(p('empty-class', 'cat', 'a.png'), 4, 4);
  writeFile(p('empty-class', 'dog', '.keep'), '');
  writeFile(p('mnist-json', '0.json'), '{"data": [0.1, 0.2');
  for (let d = 1; d < 10; d++) writeFile(p('mnist-json', `${d}.json`), JSON.stringify({ data: new Array(784).fill(0) }));
  await png(p('skip', 'a.png'), 16, 16, 10);
  await png(p('skip', 'b.png'), 16, 16, 20);
  writeFile(p('skip', 'c.txt'), 'text');
  writeFile(p('skip', 'd.png'), good.subarray(0, Math.floor(good.length * 0.6)));
});

interface Case { name: string; source: () => string; patterns: RegExp[]; env?: Record<string, string>; args?: string[] }

const cases: Case[] = [
  { name: 'truncated IDX data', source: () => p('idx-trunc'), patterns: [/idx-trunc\/train-images-idx3-ubyte: truncated IDX data/, /need 12 bytes of data, file has 4/] },
  { name: 'wrong IDX magic number', source: () => p('idx-magic'), patterns: [/idx-magic\/train-images-idx3-ubyte: not an IDX file: wrong magic number \(first bytes 12 34/] },
  { name: 'mismatched image/label counts', source: () => p('idx-count'), patterns: [/idx-count\/train-images-idx3-ubyte: has 3 images but its labels file .*train-labels-idx1-ubyte has 2 labels/] },
  { name: 'IDX label out of range', source: () => p('idx-label'), patterns: [/train-labels-idx1-ubyte.gz: label 5 of item 1 is out of range: expected 0..2 \(3 classes\)/] },
  { name: 'NaN values', source: () => p('idx-nan', 'x-images-idx3-float'), patterns: [/x-images-idx3-float: pixel value 1 is NaN; values must be finite numbers in \[0, 1\]/] },
  { name: 'values outside [0, 1]', source: () => p('idx-range', 'x-images-idx3-float'), patterns: [/x-images-idx3-float: pixel value 1 is 1.5/] },
  { name: 'bytes after the IDX data', source: () => p('idx-extra'), patterns: [/idx-extra\/train-images-idx3-ubyte: corrupt IDX file: 2 unexpected bytes/] },
  { name: 'truncated gzip', source: () => p('idx-gz'), patterns: [/idx-gz\/train-images-idx3-ubyte.gz: corrupt or truncated gzip data/] },
  { name: 'labels file given as images', source: () => p('idx-labels-as-images', 'train-labels-idx1-ubyte'), patterns: [/train-labels-idx1-ubyte: not an image file: IDX dimensions \[2\]/] },
  { name: 'empty file', source: () => p('empty-file', 'train-images-idx3-ubyte'), patterns: [/empty-file\/train-images-idx3-ubyte: file is empty/] },
  { name: 'truncated CIFAR batch', source: () => p('cifar-trunc'), patterns: [/cifar-trunc\/data_batch_1.bin: truncated or corrupt CIFAR-10 batch: 4073 bytes is not a whole number of 3073-byte records/] },
  { name: 'CIFAR-10 label out of range', source: () => p('cifar-label'), patterns: [/cifar-label\/data_batch_1.bin: label 10 of item 1 is out of range: expected 0..9/] },
  { name: 'CIFAR-100 fine label out of range', source: () => p('cifar100-label'), patterns: [/train.bin \(fine labels\): label 100 of item 0 is out of range: expected 0..99/] },
  { name: 'CIFAR-100 coarse label out of range', source: () => `${p('cifar100-coarse')}:test`, patterns: [/test.bin \(coarse labels\): label 20 of item 0 is out of range: expected 0..19/] },
  { name: 'wrong number of CIFAR class names', source: () => p('cifar-names'), patterns: [/batches.meta.txt: lists 3 class names, expected 10/] },
  { name: 'empty folder', source: () => p('empty-folder'), patterns: [/empty-folder: folder has no images \(it is empty\)/] },
  { name: 'non-image file in a folder', source: () => p('non-image'), patterns: [/non-image\/notes.txt: not a readable image \(Input file contains unsupported image format\)/] },
  { name: 'corrupt (truncated) image in a folder', source: () => p('corrupt'), patterns: [/corrupt\/b.png: cannot decode image/] },
  { name: 'images of mixed sizes without a resize', source: () => p('mixed'), patterns: [/mixed\/b.png: images have different sizes .*a.png is 8×8, this one is 10×8.*--shape/] },
  { name: 'images and class folders mixed', source: () => p('mixed-layout'), patterns: [/mixed-layout: folder mixes image files \(a.png, …\) and sub-folders \(cls, …\)/] },
  { name: 'empty class folder', source: () => p('empty-class'), patterns: [/empty-class\/dog: class folder "dog" has no images/] },
  { name: 'corrupt MNIST JSON', source: () => p('mnist-json'), patterns: [/mnist-json\/0.json: not valid JSON/] },
  { name: 'unknown source', source: () => p('does-not-exist'), patterns: [/does-not-exist" not found: not a built-in source/] },
  { name: 'Fashion-MNIST not installed', source: () => 'fashion-mnist', env: { ARES_FASHION_MNIST_DIR: '/nonexistent/fmnist' },
    patterns: [/Fashion-MNIST is not installed \(no folder \/nonexistent\/fmnist\): install it with `sudo apt-get install dataset-fashion-mnist`/] },
];

describe.concurrent('bad input: clear error, named file, exit code 1', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const saved = process.env.ARES_FASHION_MNIST_DIR;
      if (c.env) Object.assign(process.env, c.env);
      try {
        // Both the loader and inspect (which reads the whole source) refuse it.
        await expectAresError(loadSource(c.source()), ...c.patterns);
        await expectAresError(inspectSource(c.source()), ...c.patterns);
      } finally {
        if (c.env) { if (saved === undefined) delete process.env.ARES_FASHION_MNIST_DIR; else process.env.ARES_FASHION_MNIST_DIR = saved; }
      }
      const r = await runCli(['data', 'inspect', c.source(), '--json', ...(c.args ?? [])], c.env);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^ares: error: /);
      for (const re of c.patterns) expect(r.stderr).toMatch(re);
    });
  }
});

describe('--skip-bad', () => {
  it('reads the good images of a folder and reports how many were skipped', async () => {
    const set = await loadSource(p('skip'), { skipBad: true });
    expect(set.count).toBe(2);
    expect(set.skipped!.map((s) => s.file.slice(p('skip').length + 1))).toEqual(['c.txt', 'd.png']);
    expect(set.skipped![1].reason).toMatch(/d.png: cannot decode image/);
    const r = await runCli(['data', 'inspect', p('skip'), '--json', '--skip-bad']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('ares: skipped 2 bad images (--skip-bad)\n');
    const rep = JSON.parse(r.stdout);
    expect(rep.splits.all.count).toBe(2);
    expect(rep.splits.all.skipped).toBe(2);
  });

  it('without --skip-bad the same folder is refused', async () => {
    await expectAresError(loadSource(p('skip')), /skip\/c.txt: not a readable image/);
  });
});

describe('usage errors exit with code 2', () => {
  it('rejects a malformed --shape', async () => {
    const r = await runCli(['data', 'inspect', 'gaussian', '--shape', '28x28x2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ares: error: shape "28x28x2": shape must be \[height, width, 1 or 3\]/);
  });
});
