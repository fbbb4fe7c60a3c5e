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
});
