import { describe, expect, it } from 'vitest';
import { sameConfig } from '../../src/pipeline/benchmark.js';
import { resolveConfig } from '../../src/pipeline/train-run.js';

describe('reusing a finished benchmark cell', () => {
  it('ignores the divergence form for methods that never read it, and only for them', () => {
    for (const method of ['ce', 'pixmix-only', 'vos'] as const) {
      const stored = resolveConfig({ id: 'fashion-mnist', method, divergence: 'linear' });
      expect(sameConfig(stored, resolveConfig({ id: 'fashion-mnist', method, divergence: 'directional' })), method).toBe(true);
      expect(sameConfig(stored, resolveConfig({ id: 'fashion-mnist', method, divergence: 'linear', beta: 0.3 })), method).toBe(false);
    }
    const ares = resolveConfig({ id: 'fashion-mnist', method: 'ares', divergence: 'linear' });
    expect(sameConfig(ares, resolveConfig({ id: 'fashion-mnist', method: 'ares', divergence: 'directional' }))).toBe(false);
    expect(sameConfig(ares, resolveConfig({ id: 'fashion-mnist', method: 'ares', divergence: 'linear' }))).toBe(true);
  });

  it('tells a retrained fold from the full run and from another fold; foldClass must be one of idClasses', () => {
    const base = { id: 'fashion-mnist', method: 'ce' as const, idClasses: [0, 1, 2, 3, 4, 5] };
    const fold2 = resolveConfig({ ...base, foldClass: 2 });
    expect(sameConfig(fold2, resolveConfig({ ...base, foldClass: 2 }))).toBe(true);
    expect(sameConfig(fold2, resolveConfig(base))).toBe(false);
    expect(sameConfig(fold2, resolveConfig({ ...base, foldClass: 3 }))).toBe(false);
    expect(() => resolveConfig({ ...base, foldClass: 7 })).toThrow(/^foldClass must be one of idClasses \(\[0, 1, 2, 3, 4, 5\]\), got 7$/);
    expect(() => resolveConfig({ id: 'fashion-mnist', foldClass: 1 })).toThrow(/^foldClass must be one of idClasses \(none given\), got 1$/);
  });
});
