import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { AresError } from '../../src/errors.js';
import { MAX_CLASSES, MAX_DATA_FILE_BYTES, readMaybeGzip } from '../../src/data/check.js';
import { idxDeclaredSize, loadIdxPair } from '../../src/data/idx.js';
import { loadCifarFiles, recordSize, type CifarVariant } from '../../src/data/cifar.js';
import { concat, idxBytes, tempDir, writeFile } from '../data/helpers.js';

/**
 * The file-level readers (what `ares` calls on a user's path: gzip detection, capped inflation,
 * header checks, label caps, CIFAR size checks) on generated hostile files: each either returns a
 * valid, self-consistent set or throws the project's AresError — never another exception, never a
 * run past its time limit. test/data/properties.test.ts does the same for the in-memory parsers.
 */
const { dir, cleanup } = tempDir('fuzz');
afterAll(cleanup);
const PER_RUN_MS = 5000;
// timeout: a run that takes longer fails the property (a hang is a failure, not a stuck suite).
const RUN = { numRuns: 60, seed: 20261204, timeout: PER_RUN_MS } as const;
let n = 0;
const fresh = (name: string) => join(dir, String(n++), name);

async function validOrAresError<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof AresError)) throw new Error(`not an AresError: ${(err as Error)?.stack ?? err}`);
    expect(err.message.length).toBeGreaterThan(0);
    return null;
  }
}

const TYPE_CODES = [0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0a, 0x00];
const SIZE_OF: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/** A header with small or absurd dimensions, a body of about the declared size (short, exact or long), maybe gzipped. */
const idxFile = fc.record({
  type: fc.constantFrom(...TYPE_CODES),
  dims: fc.array(fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(0xffffffff, 0x7fffffff, 100_000)), { minLength: 0, maxLength: 4 }),
  delta: fc.oneof(fc.constant(0), fc.integer({ min: -20, max: 20 }), fc.constant(200_000)),
  fill: fc.integer({ min: 0, max: 255 }),
  gzip: fc.boolean(),
});

function idxFileBytes(f: { type: number; dims: number[]; delta: number; fill: number; gzip: boolean }): Uint8Array {
  const header = new Uint8Array(4 + 4 * f.dims.length);
  header[2] = f.type;
  header[3] = f.dims.length;
  const view = new DataView(header.buffer);
  f.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const declared = f.dims.reduce((a, b) => a * b, 1) * (SIZE_OF[f.type] ?? 1);
  const body = new Uint8Array(Math.max(0, Math.min(declared, 4096) + f.delta)).fill(f.fill);
  const raw = concat([header, body]);
  return f.gzip ? new Uint8Array(gzipSync(raw)) : raw;
}

describe('IDX files: valid set or AresError', () => {
  it('hostile image files with and without a labels file of arbitrary int32 labels', async () => {
    const labels = fc.array(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(-1, MAX_CLASSES - 1, MAX_CLASSES, 2147483647)), { maxLength: 6 });
    await fc.assert(fc.asyncProperty(idxFile, fc.option(labels), async (f, ys) => {
      const images = writeFile(fresh('train-images-idx3-ubyte'), idxFileBytes(f));
      const labelsFile = ys ? writeFile(join(images, '..', 'train-labels-idx1-ubyte'), gzipSync(idxBytes([ys.length], ys, 'int'))) : null;
      const set = await validOrAresError(() => loadIdxPair(images, labelsFile, { name: 'fuzz' }));
      if (!set) return;
      expect(set.images.length).toBe(set.count * set.shape[0] * set.shape[1] * set.shape[2]);
      for (const v of set.images) expect(v >= 0 && v <= 1).toBe(true);
      if (set.labels) {
        expect(set.labels.length).toBe(set.count);
        expect(set.classNames!.length).toBeLessThanOrEqual(MAX_CLASSES);
        for (const y of set.labels) expect(y >= 0 && y < set.classNames!.length).toBe(true);
      }
    }), RUN);
  });

  it('gzip never inflates past the declared size: the bytes read are at most what the header says', async () => {
    await fc.assert(fc.asyncProperty(idxFile, fc.integer({ min: 1, max: 300_000 }), async (f, extra) => {
      const file = writeFile(fresh('x-images-idx3-ubyte.gz'), gzipSync(concat([idxFileBytes({ ...f, gzip: false }), new Uint8Array(extra)])));
      const bytes = await validOrAresError(() => readMaybeGzip(file, { maxBytes: MAX_DATA_FILE_BYTES, declaredSize: idxDeclaredSize, format: 'IDX' }));
      if (!bytes) return;
      const declared = idxDeclaredSize(bytes);
      // Read in full only when within the declaration; a bad header stops after the header's worth.
      if (typeof declared === 'number') expect(bytes.length).toBeLessThanOrEqual(declared);
      else expect(bytes.length).toBeLessThanOrEqual(64 * 1024);
    }), RUN);
  });
});

describe('CIFAR batch files: valid set or AresError', () => {
  it('whole and partial records, arbitrary label bytes, one or two files', async () => {
    const variant = fc.constantFrom<CifarVariant>('cifar10', 'cifar100');
    const file = fc.record({ records: fc.integer({ min: 0, max: 3 }), leftover: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3073 })), label: fc.integer({ min: 0, max: 255 }) });
    await fc.assert(fc.asyncProperty(variant, fc.array(file, { minLength: 1, maxLength: 2 }), async (v, specs) => {
      const rec = recordSize(v);
      const names = v === 'cifar10' ? ['data_batch_1.bin', 'data_batch_2.bin'] : ['train.bin', 'test.bin'];
      const base = fresh('');
      const files = specs.map((s, i) => {
        const bytes = new Uint8Array(s.records * rec + s.leftover).fill(7);
        for (let r = 0; r < s.records; r++) { bytes[r * rec] = s.label; if (v === 'cifar100') bytes[r * rec + 1] = s.label % 120; }
        return writeFile(join(base, names[i]), bytes);
      });
      const set = await validOrAresError(() => loadCifarFiles(files, v, { name: 'fuzz', split: 'all' }));
      if (!set) return;
      expect(set.count).toBe(specs.reduce((s, f) => s + f.records, 0));
      expect(set.images.length).toBe(set.count * 32 * 32 * 3);
      for (const y of set.labels!) expect(y).toBeLessThan(v === 'cifar10' ? 10 : 100);
    }), RUN);
  });
});
