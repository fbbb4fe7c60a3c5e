import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AresError } from '../../src/errors.js';
import { maybeGunzip } from '../../src/data/check.js';
import { idxToImages, idxToLabels, parseIdx } from '../../src/data/idx.js';
import { parseCifar, recordSize, type CifarVariant } from '../../src/data/cifar.js';
import { gz, idxBytes } from './helpers.js';

/**
 * Random and mutilated bytes fed to the binary readers: each either reads correctly (and then its
 * result is self-consistent) or throws the project's AresError — never another error, never a hang.
 */
const RUNS = { numRuns: 300, seed: 20240611 } as const;

function readsOrAresError(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof AresError)) throw new Error(`not an AresError: ${(err as Error)?.stack ?? err}`);
    expect(err.message.length).toBeGreaterThan(0);
    return null;
  }
}

async function readsOrAresErrorAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof AresError)) throw new Error(`not an AresError: ${(err as Error)?.stack ?? err}`);
    return null;
  }
}

/** A small valid IDX file: ubyte images [n, h, w] or int/float/double 1-D arrays. */
const validIdx = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
    .chain(([n, h, w]) => fc.uint8Array({ minLength: n * h * w, maxLength: n * h * w }).map((v) => ({ dims: [n, h, w], values: Array.from(v), dtype: 'ubyte' as const }))),
  fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 12 }).map((v) => ({ dims: [v.length], values: v, dtype: 'int' as const })),
  fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }).map((v) => ({ dims: [v.length], values: v, dtype: 'float' as const })),
);

/** Truncate, overwrite a byte, or append bytes. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

interface Mutation { kind: string; at?: number; value?: number; extra?: Uint8Array }

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (bytes.length === 0) return bytes;
  if (m.kind === 'truncate') return bytes.slice(0, m.at! % bytes.length);
  if (m.kind === 'flip') { const b = bytes.slice(); b[m.at! % b.length] = m.value!; return b; }
  const out = new Uint8Array(bytes.length + m.extra!.length);
  out.set(bytes);
  out.set(m.extra!, bytes.length);
  return out;
}

function checkIdxResult(r: ReturnType<typeof parseIdx> | null): void {
  if (!r) return;
  expect(r.data.length).toBe(r.dims.reduce((a, b) => a * b, 1));
  readsOrAresError(() => {
    const img = idxToImages(r, 'f');
    expect(img.images.length).toBe(r.data.length);
    for (const v of img.images) expect(v >= 0 && v <= 1).toBe(true);
  });
  readsOrAresError(() => idxToLabels(r, 'f'));
}

describe('IDX reader properties', () => {
  it('random bytes: reads or throws AresError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      checkIdxResult(readsOrAresError(() => parseIdx(bytes, 'random.idx')) as ReturnType<typeof parseIdx> | null);
    }), RUNS);
  });

  it('random bytes behind a valid IDX header prefix: reads or throws AresError', () => {
    const header = fc.tuple(fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0a), fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 120 }));
    fc.assert(fc.property(header, ([type, nd, rest]) => {
      const bytes = new Uint8Array([0, 0, type, nd, ...rest]);
      checkIdxResult(readsOrAresError(() => parseIdx(bytes, 'h.idx')) as ReturnType<typeof parseIdx> | null);
    }), RUNS);
  });

  it('valid files round-trip; mutilated ones read or throw AresError', () => {
    fc.assert(fc.property(validIdx, mutation, (f, m) => {
      const bytes = idxBytes(f.dims, f.values, f.dtype);
      const r = parseIdx(bytes, 'ok.idx');
      expect(r.dims).toEqual(f.dims);
      expect(Array.from(r.data)).toEqual(f.dtype === 'float' ? Array.from(Float32Array.from(f.values)) : f.values);
      checkIdxResult(readsOrAresError(() => parseIdx(mutate(bytes, m), 'bad.idx')) as ReturnType<typeof parseIdx> | null);
    }), RUNS);
  });

  it('gzipped: corrupt or truncated gzip streams throw AresError', async () => {
    await fc.assert(fc.asyncProperty(validIdx, mutation, async (f, m) => {
      const bytes = gz(idxBytes(f.dims, f.values, f.dtype));
      await readsOrAresErrorAsync(async () => parseIdx(await maybeGunzip(mutate(bytes, m), 'x.gz'), 'x.gz'));
    }), { ...RUNS, numRuns: 150 });
  });

  it('a header declaring gigantic dimensions fails fast without allocating', () => {
    const bytes = new Uint8Array([0, 0, 0x0e, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 2, 3]);
    const t0 = performance.now();
    expect(() => parseIdx(bytes, 'huge.idx')).toThrow(/truncated IDX data/);
    expect(performance.now() - t0).toBeLessThan(50);
  });
});

describe('CIFAR reader properties', () => {
  const variant = fc.constantFrom<CifarVariant>('cifar10', 'cifar100');

  it('random bytes: reads or throws AresError', () => {
    // Sizes around one or two records, so whole-record inputs occur too.
    const size = fc.oneof(fc.integer({ min: 0, max: 7000 }), fc.constantFrom(3073, 3074, 6146, 6148));
    fc.assert(fc.property(variant, size, fc.integer(), (v, n, seed) => {
      const bytes = new Uint8Array(n);
      let s = seed >>> 0;
      for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; bytes[i] = s >>> 24; }
      const r = readsOrAresError(() => parseCifar(bytes, 'rand.bin', v)) as ReturnType<typeof parseCifar> | null;
      if (r) {
        expect(n % recordSize(v)).toBe(0);
        expect(r.count).toBe(n / recordSize(v));
        for (const y of r.labels) expect(y).toBeLessThan(v === 'cifar10' ? 10 : 100);
      }
    }), { ...RUNS, numRuns: 150 });
  });

  it('valid records: labels and pixels exact; mutilated bytes read or throw AresError', () => {
    const rec = fc.tuple(variant, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(rec, mutation, ([v, n, label, fill], m) => {
      const size = recordSize(v);
      const bytes = new Uint8Array(n * size).fill(fill);
      for (let k = 0; k < n; k++) { bytes[k * size] = label; if (v === 'cifar100') bytes[k * size + 1] = label * 7; }
      const r = parseCifar(bytes, 'ok.bin', v);
      expect(r.count).toBe(n);
      expect(r.labels[0]).toBe(v === 'cifar10' ? label : label * 7);
      expect(r.images[r.images.length - 1]).toBeCloseTo(fill / 255, 6);
      readsOrAresError(() => parseCifar(mutate(bytes, m), 'bad.bin', v));
    }), { ...RUNS, numRuns: 150 });
  });
});
