import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng.js';
import { epochRng } from '../../src/data/batches.js';
import { generatedRng, generateSet } from '../../src/data/generated.js';
import { stepRng } from '../../src/methods/train.js';

const head = (r: Rng, n = 8) => Array.from({ length: n }, () => r.nextUint32());

describe('Rng.stream: one stream per purpose', () => {
  it('is deterministic and depends on seed, purpose and every index', () => {
    expect(head(Rng.stream(3, 'a', 1, 2))).toEqual(head(Rng.stream(3, 'a', 1, 2)));
    const base = head(Rng.stream(3, 'a', 1, 2));
    for (const other of [Rng.stream(4, 'a', 1, 2), Rng.stream(3, 'b', 1, 2), Rng.stream(3, 'a', 2, 1), Rng.stream(3, 'a', 1), Rng.stream(3, 'a', 1, 2, 0), Rng.stream(3, 'a1', 2)]) {
      expect(head(other)).not.toEqual(base);
    }
  });

  it('rejects indices that are not non-negative safe integers', () => {
    expect(() => Rng.stream(0, 'x', -1)).toThrow(RangeError);
    expect(() => Rng.stream(0, 'x', 1.5)).toThrow(RangeError);
  });

  // The collisions the former `new Rng(seed).fork(k)` scheme had, for several seeds.
  for (const seed of [0, 1, 7]) {
    it(`seed ${seed}: gaussian:test, the epoch-1 shuffle and the epoch-0/batch-0 PixMix draw different streams`, () => {
      const a = head(generatedRng('gaussian', seed, 'test'));
      const b = head(epochRng(seed, 1));
      const c = head(stepRng(seed, 0, 0, 'escape'));
      expect(a).not.toEqual(b);
      expect(a).not.toEqual(c);
      expect(b).not.toEqual(c);
    });

    it(`seed ${seed}: uniform:test and the first estimation stream differ`, () => {
      expect(head(generatedRng('uniform', seed, 'test'))).not.toEqual(head(stepRng(seed, 0, 0, 'estimation')));
    });
  }

  it('no two purposes of one run share a first draw (a run-sized set of streams)', () => {
    const seen = new Map<number, string>();
    const add = (label: string, r: Rng) => {
      const v = r.nextUint32() * 4294967296 + r.nextUint32();
      expect(seen.get(v), `${label} collides with ${seen.get(v)}`).toBeUndefined();
      seen.set(v, label);
    };
    for (const k of ['gaussian', 'uniform', 'blobs']) for (const s of ['train', 'test'] as const) add(`${k}:${s}`, generatedRng(k, 0, s));
    for (let e = 0; e < 10; e++) {
      add(`shuffle ${e}`, epochRng(0, e));
      for (let b = 0; b < 100; b++) for (const st of ['escape', 'expansion', 'estimation'] as const) add(`${st} ${e}/${b}`, stepRng(0, e, b, st));
    }
  });

  it('generated sets use their generatedRng stream', () => {
    const set = generateSet('uniform', { shape: [2, 2, 1], count: 1, seed: 5, split: 'test' });
    const r = generatedRng('uniform', 5, 'test');
    expect(Array.from(set.images)).toEqual(Array.from({ length: 4 }, () => Math.fround(r.uniform())));
  });
});
