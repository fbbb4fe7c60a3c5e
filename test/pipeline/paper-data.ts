import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.js';
import { cifarRecord, concat } from '../data/helpers.js';

/**
 * A data root laid out as the paper configs expect, small enough to train on in seconds:
 * cifar-10-batches-bin (and cifar-100-binary) in the published binary format, the five OOD sets as
 * image folders (Texture with class sub-folders, LSUN-C with a test/ split, the rest flat).
 * CIFAR classes get a class-dependent colour so a tiny model learns something.
 */
export const OOD_FOLDERS = ['dtd/images', 'svhn', 'LSUN', 'iSUN', 'places365'] as const;

function cifarBytes(n: number, rng: Rng, labels: (i: number) => number[], classOf: (l: number[]) => number): Uint8Array {
  return concat(Array.from({ length: n }, (_, i) => {
    const l = labels(i);
    const k = classOf(l);
    return cifarRecord(l, (p, ch) => Math.round(255 * (0.5 * ((k >> ch) & 1) + 0.3 * rng.uniform() + 0.1 * ((p % 32) / 32))));
  }));
}

async function writeImages(dir: string, n: number, rng: Rng, ext: 'png' | 'jpg'): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const w = 32 + rng.int(16), h = 32 + rng.int(16);
    const px = Buffer.from(Array.from({ length: w * h * 3 }, () => rng.int(256)));
    const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
    writeFileSync(join(dir, `img-${i}.${ext}`), await (ext === 'png' ? img.png() : img.jpeg()).toBuffer());
  }
}

export async function writePaperDataRoot(root: string, opts: { train?: number; test?: number; ood?: number; skip?: string[] } = {}): Promise<void> {
  const rng = new Rng(42);
  const skip = new Set(opts.skip ?? []);
  const train = opts.train ?? 200, test = opts.test ?? 60, ood = opts.ood ?? 24;
  if (!skip.has('cifar-10-batches-bin')) {
    const d = join(root, 'cifar-10-batches-bin');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'data_batch_1.bin'), cifarBytes(train, rng, (i) => [i % 10], (l) => l[0]));
    writeFileSync(join(d, 'test_batch.bin'), cifarBytes(test, rng, (i) => [i % 10], (l) => l[0]));
  }
  if (!skip.has('cifar-100-binary')) {
    const d = join(root, 'cifar-100-binary');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'train.bin'), cifarBytes(train, rng, (i) => [i % 20, i % 100], (l) => l[1] % 8));
    writeFileSync(join(d, 'test.bin'), cifarBytes(test, rng, (i) => [i % 20, i % 100], (l) => l[1] % 8));
  }
  for (const f of OOD_FOLDERS) {
    if (skip.has(f)) continue;
    if (f === 'dtd/images') {
      await writeImages(join(root, f, 'banded'), ood / 2, rng, 'jpg');
      await writeImages(join(root, f, 'dotted'), ood / 2, rng, 'jpg');
    } else if (f === 'LSUN') {
      await writeImages(join(root, f, 'test'), ood, rng, 'jpg');
    } else {
      await writeImages(join(root, f), ood, rng, f === 'svhn' ? 'png' : 'jpg');
    }
  }
}
