import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine } from '../../src/engine/backend.js';
import { buildTinyRun } from '../fixtures/tiny-run.js';
import { concat, idxBytes, tempDir, writeFile } from '../data/helpers.js';
import { runCliMeasured, writeBlackPng, writeGzipBomb, type MeasuredRun } from './helpers.js';

/**
 * Hostile inputs end fast, in little memory, with one named error line (exit 1, or 2 for a bad
 * flag), through the real CLI. Each case's bound: under 1 GiB peak RSS and 10 s of CPU time of the
 * CLI process (CPU, not wall time, because this machine's cores are shared and the CLI's own start
 * takes seconds of wall time under load); a run still going after 60 s is killed and fails the case
 * (the hangs: FIFOs). Every input is generated here, and each is big enough that a reader without
 * the cap would pass the bound: the gzip bombs inflate to 2 GiB, the PNG is 10000×10000 RGB
 * (1.1 GiB as float32), the CIFAR files are sparse files of GBs.
 */
const { dir, cleanup } = tempDir('hostile');
afterAll(cleanup);
const p = (...parts: string[]) => join(dir, ...parts);
const MAX_RSS_MIB = 1024;
const MAX_CPU_S = 10;
const canFifo = process.platform !== 'win32';

async function png(file: string, w: number, h: number, value = 100): Promise<void> {
  writeFile(file, await sharp({ create: { width: w, height: h, channels: 3, background: { r: value, g: value, b: value } } }).png().toBuffer());
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

/** One named error line (or a clean result), within the time and memory bound. */
function expectBounded(r: MeasuredRun, code: number, ...patterns: RegExp[]): void {
  const where = `exit ${r.code}, ${r.wallSeconds.toFixed(1)} s wall, ${r.cpuSeconds?.toFixed(1)} s CPU, ${r.peakRssMiB?.toFixed(0)} MiB; stderr: ${r.stderr.slice(0, 400)}`;
  console.log(`${expect.getState().currentTestName}: ${where.split('; stderr')[0]}`);
  expect(r.killed, `killed after the wall-clock limit (a hang): ${where}`).toBe(false);
  expect(r.code, where).toBe(code);
  expect(r.peakRssMiB, where).not.toBeNull();
  expect(r.peakRssMiB!, where).toBeLessThan(MAX_RSS_MIB);
  expect(r.cpuSeconds!, where).toBeLessThan(MAX_CPU_S);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  for (const pat of patterns) expect(r.stderr).toMatch(pat);
}

const inspect = (...args: string[]) => runCliMeasured(dir, ['data', 'inspect', ...args]);

beforeAll(async () => {
  // 1. gzip bombs: 2 GiB of zeros behind IDX headers (32 members of 64 MiB).
  await writeGzipBomb(p('bomb-small-header', 'train-images-idx3-ubyte.gz'), idxBytes([1, 28, 28], new Array(784).fill(0)), 64, 32);
  await writeGzipBomb(p('bomb-10mb-header', 'train-images-idx3-ubyte.gz'), idxBytes([1000, 100, 100], []), 64, 32);
  writeFile(p('bomb-huge-header', 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([100000, 1000, 100], [])));
  // 2. a label of 2^31 - 1 in an int labels file.
  writeFile(p('big-label', 'train-images-idx3-ubyte'), idxBytes([2, 2, 2], new Array(8).fill(3)));
  // Named as published ("-ubyte") so it pairs with the images; its header says int.
  writeFile(p('big-label', 'train-labels-idx1-ubyte'), idxBytes([2], [0, 2147483647], 'int'));
  writeFile(p('good-idx', 'train-images-idx3-ubyte'), idxBytes([40, 28, 28], Array.from({ length: 40 * 784 }, (_, i) => i % 251)));
  writeFile(p('good-idx', 'train-labels-idx1-ubyte'), idxBytes([40], Array.from({ length: 40 }, (_, i) => i % 2)));
  writeFile(p('good-idx', 't10k-images-idx3-ubyte'), idxBytes([10, 28, 28], Array.from({ length: 10 * 784 }, (_, i) => i % 241)));
  writeFile(p('good-idx', 't10k-labels-idx1-ubyte'), idxBytes([10], Array.from({ length: 10 }, (_, i) => i % 2)));
  // 3. a 10000×10000 RGB PNG (~1.3 MB), alone and in a folder.
  await writeBlackPng(p('big-png', 'big.png'), 8000, 8000);
  await writeBlackPng(p('big-png', 'huge.png'), 10000, 10000);
  mkdirSync(p('big-png-folder'));
  symlinkSync(p('big-png', 'big.png'), p('big-png-folder', 'big.png'));
  // 4. symbolic link loops and a dangling link in class folders.
  await png(p('loops', 'cat', 'a.png'), 4, 4, 10);
  await png(p('loops', 'dog', 'b.png'), 4, 4, 20);
  symlinkSync('.', p('loops', 'cat', 'here'));
  symlinkSync('..', p('loops', 'cat', 'up'));
  symlinkSync('../cat', p('loops', 'dog', 'sideways'));
  await png(p('dangling', 'cat', 'a.png'), 4, 4, 10);
  await png(p('dangling', 'dog', 'b.png'), 4, 4, 20);
  symlinkSync(p('dangling', 'nowhere.png'), p('dangling', 'dog', 'gone.png'));
  // 5. non-regular files: FIFOs (as an image, as a weight shard), a link to /dev/zero.
  if (canFifo) {
    mkfifo(p('fifo.png'));
    await png(p('fifo-folder', 'a.png'), 4, 4);
    mkfifo(p('fifo-folder', 'b.png'));
  }
  // 7. CIFAR batches: sparse files far past the caps, and a link to /dev/zero.
  writeFile(p('cifar-big', 'data_batch_1.bin'), new Uint8Array(0));
  truncateSync(p('cifar-big', 'data_batch_1.bin'), 3073 * 400_000); // 1.2 GB, one file past 1 GiB
  for (const n of [1, 2, 3, 4]) {
    writeFile(p('cifar-many', `data_batch_${n}.bin`), new Uint8Array(0));
    truncateSync(p('cifar-many', `data_batch_${n}.bin`), 3073 * 100_000); // 4 × 307 MB: 4.6 GiB as float32
  }
  mkdirSync(p('cifar-zero'));
  symlinkSync('/dev/zero', p('cifar-zero', 'data_batch_1.bin'));
}, 120_000);

describe('1. gzip bombs stop at what the IDX header declares', () => {
  it('a 2 GiB bomb behind a one-image header: named error after 800 bytes', async () => {
    expectBounded(await inspect(p('bomb-small-header')), 1,
      /bomb-small-header\/train-images-idx3-ubyte.gz: gzip data inflates to more than the 800 bytes its IDX header declares/);
  });

  it('a 2 GiB bomb behind a 10 MB header, with --limit 100: named error after 10 MB', async () => {
    expectBounded(await inspect('--limit', '100', p('bomb-10mb-header')), 1,
      /bomb-10mb-header\/train-images-idx3-ubyte.gz: gzip data inflates to more than the 9.5 MiB its IDX header declares/);
  });

  it('a header declaring 9.3 GiB: refused before inflating', async () => {
    expectBounded(await inspect(p('bomb-huge-header')), 1,
      /bomb-huge-header\/train-images-idx3-ubyte.gz: IDX header declares 9.3 GiB of data, more than the 1.0 GiB allowed for one data file/);
  });
});

describe('2. IDX labels past the class cap', () => {
  it('label 2147483647: named error, not an out-of-memory crash (data inspect)', async () => {
    expectBounded(await inspect(p('big-label', 'train-images-idx3-ubyte')), 1,
      /train-labels-idx1-ubyte: label 2147483647 of item 1 is past the largest class index allowed \(99999\)/);
  });

  it('the same labels as a training OOD set (ares train --ood)', async () => {
    const r = await runCliMeasured(dir, ['train', '--id', p('good-idx'), '--ood', p('big-label', 'train-images-idx3-ubyte'),
      '--epochs', '1', '--pretrain-epochs', '0', '--out', p('train-out')]);
    expectBounded(r, 1, /train-labels-idx1-ubyte: label 2147483647 of item 1 is past the largest class index allowed \(99999\)/);
  });
});

describe('3. huge images: pixel cap from the header unless a shape resizes them', () => {
  it('an 8000×8000 PNG without --shape: named error from its header', async () => {
    expectBounded(await inspect(p('big-png', 'big.png')), 1,
      /big.png: image is 8000×8000 \(64.0 Mpx\); images read at their own size may have at most 16.8 Mpx .*--shape/);
  });

  it('the same PNG in a folder without --shape: the same error', async () => {
    expectBounded(await inspect(p('big-png-folder')), 1, /big.png: image is 8000×8000 \(64.0 Mpx\)/);
  });

  it('a 10000×10000 PNG is refused even with --shape (past the 67.1 Mpx any image may have)', async () => {
    expectBounded(await inspect('--shape', '28x28x3', p('big-png', 'huge.png')), 1,
      /huge.png: image is 10000×10000 \(100.0 Mpx\), more than the 67.1 Mpx any image may have/);
  });

  it('with --shape 28x28x3 the 8000×8000 PNG is decoded, resized to the shape and read', async () => {
    const r = await inspect('--json', '--shape', '28x28x3', p('big-png', 'big.png'));
    expectBounded(r, 0);
    const report = JSON.parse(r.stdout);
    expect(report.splits.all.count).toBe(1);
    expect(report.splits.all.shape).toEqual([28, 28, 3]);
    expect(report.splits.all.max).toBe(0);
  });
});

describe('4. symbolic links in folder walks', () => {
  it('loops in class folders: each real folder walked once, each image counted once', async () => {
    const r = await inspect('--json', '--skip-bad', p('loops'));
    expectBounded(r, 0);
    const s = JSON.parse(r.stdout).splits.all;
    expect(s.count).toBe(2);
    expect(s.classes.map((c: { count: number }) => c.count)).toEqual([1, 1]);
    expect(s.skipped).toBe(0);
  });

  it('a dangling link: named error; with --skip-bad skipped and counted', async () => {
    expectBounded(await inspect(p('dangling')), 1, /dangling\/dog\/gone.png: cannot read image: it is a dangling symbolic link/);
    const r = await inspect('--json', '--skip-bad', p('dangling'));
    expectBounded(r, 0, /skipped 1 bad image/);
    expect(JSON.parse(r.stdout).splits.all.count).toBe(2);
  });
});

describe.runIf(canFifo)('5. FIFOs as data sources', () => {
  it('a FIFO given as the source: named error, no hang', async () => {
    expectBounded(await inspect(p('fifo.png')), 1, /fifo.png: is a FIFO \(named pipe\), not a regular file or a folder/);
  });

  it('a FIFO in an image folder: named error; with --skip-bad left out and counted', async () => {
    expectBounded(await inspect(p('fifo-folder')), 1, /fifo-folder\/b.png: cannot read image: it is a FIFO \(named pipe\), not a regular file/);
    const r = await inspect('--json', '--skip-bad', p('fifo-folder'));
    expectBounded(r, 0, /skipped 1 bad image/);
    expect(JSON.parse(r.stdout).splits.all.count).toBe(1);
  });
});

describe('6. class lists', () => {
  it('--classes 0-100000000 is a usage error at once', async () => {
    expectBounded(await inspect('--classes', '0-100000000', p('good-idx')), 2,
      /class list "0-100000000": class 100000000 is past the largest class index allowed \(99999\)/);
  });
});

describe('7. CIFAR batches: sizes checked before reading or allocating', () => {
  it('one batch file past 1 GiB', async () => {
    expectBounded(await inspect(p('cifar-big')), 1, /cifar-big\/data_batch_1.bin: CIFAR-10 batch is 1.1 GiB, more than the 1.0 GiB allowed/);
  });

  it('batch files that together would need 4.6 GiB as float32', async () => {
    expectBounded(await inspect(p('cifar-many')), 1, /4 CIFAR-10 batch file\(s\) hold images that need 4.6 GiB as float32, more than the 4.0 GiB allowed/);
  });

  it('a batch file that is a link to /dev/zero', async () => {
    expectBounded(await inspect(p('cifar-zero')), 1, /cifar-zero\/data_batch_1.bin: cannot read CIFAR-10 batch: it is a character device, not a regular file/);
  });
});

describe('5. predict: non-regular files, link loops, hostile weight shards', () => {
  const runDir = p('run');
  beforeAll(async () => {
    await initEngine({ backend: 'cpu' });
    await buildTinyRun(runDir, { seed: 0, epochs: 1, limit: 300 });
    await png(p('predict-loop', 'a.png'), 28, 28, 50);
    symlinkSync('.', p('predict-loop', 'again'));
    mkdirSync(p('predict-loop', 'sub'));
    symlinkSync('..', p('predict-loop', 'sub', 'up'));
    await png(p('predict-dangling', 'a.png'), 28, 28, 50);
    symlinkSync(p('predict-dangling', 'missing.png'), p('predict-dangling', 'b.png'));
    for (const kind of ['zero', 'fifo', 'big']) cpSync(runDir, p(`run-${kind}`), { recursive: true });
    const shard = (kind: string) => p(`run-${kind}`, 'model', 'weights.bin');
    const bytes = readFileSync(shard('big'));
    writeFileSync(shard('big'), concat([bytes, new Uint8Array(4096)]));
    rmSync(shard('zero'));
    symlinkSync('/dev/zero', shard('zero'));
    if (canFifo) { rmSync(shard('fifo')); mkfifo(shard('fifo')); }
  }, 120_000);

  const predict = (run: string, ...inputs: string[]) => runCliMeasured(dir, ['predict', '--run', run, '--json', ...inputs]);

  it('a folder with link loops: each image once', async () => {
    const r = await predict(runDir, p('predict-loop'));
    expectBounded(r, 0);
    expect(JSON.parse(r.stdout).predictions.map((x: { file: string }) => x.file)).toEqual([p('predict-loop', 'a.png')]);
  });

  it('a dangling link in a folder: named error', async () => {
    expectBounded(await predict(runDir, p('predict-dangling')), 1, /predict-dangling\/b.png: dangling symbolic link/);
  });

  it.runIf(canFifo)('a FIFO named .png, given directly or in a folder: named error, no hang', async () => {
    expectBounded(await predict(runDir, p('fifo.png')), 1, /fifo.png: is a FIFO \(named pipe\), not an image file/);
    expectBounded(await predict(runDir, p('fifo-folder')), 1, /fifo-folder\/b.png: is a FIFO \(named pipe\), not an image file/);
  });

  it('a weight shard linked to /dev/zero: refused before reading', async () => {
    expectBounded(await predict(p('run-zero'), p('predict-loop', 'a.png')), 1,
      /run-zero\/model\/weights.bin: cannot read weight shard: it is a character device, not a regular file/);
  });

  it.runIf(canFifo)('a FIFO weight shard: refused, no hang', async () => {
    expectBounded(await predict(p('run-fifo'), p('predict-loop', 'a.png')), 1,
      /run-fifo\/model\/weights.bin: cannot read weight shard: it is a FIFO \(named pipe\), not a regular file/);
  });

  it('a weight shard larger than its manifest declares: refused before reading', async () => {
    expectBounded(await predict(p('run-big'), p('predict-loop', 'a.png')), 1, /run-big\/model\/model.json: weight shards hold \d+ bytes, model.json describes \d+/);
  });
});
