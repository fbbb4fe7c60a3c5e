import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/pipeline/train-run.js';
import { DEFAULT_CONFIG, VALIDATION_OOD_SETS, valOodList } from '../../src/methods/config.js';

describe('training options of the Estimation stage and the validation sets', () => {
  it('defaults: the paper\'s sampler at τ = 1, the protocol\'s four validation OOD sets', () => {
    const cfg = resolveConfig({ id: 'mnist' });
    expect([cfg.estimationSource, cfg.estimationScale]).toEqual(['sampler', 1]);
    expect(valOodList(cfg.valOod)).toEqual([...VALIDATION_OOD_SETS]);
    expect(DEFAULT_CONFIG.divergence).toBe('directional'); // the validation rule's stage-1 choice
  });

  it('valOod: one name (the older form) or a list', () => {
    expect(valOodList('blobs')).toEqual(['blobs']);
    expect(valOodList(['blurred', 'blobs'])).toEqual(['blurred', 'blobs']);
    expect(valOodList('')).toEqual([]);
    expect(resolveConfig({ id: 'mnist', valOod: 'blobs' }).valOod).toBe('blobs');
  });

  it('rejects a bad source, scale or form with the flag in the message', () => {
    expect(() => resolveConfig({ id: 'mnist', estimationSource: 'bogus' as 'pool' })).toThrow(/--estimation-source must be one of sampler, pool/);
    for (const s of [0, -1, Infinity, NaN]) expect(() => resolveConfig({ id: 'mnist', estimationScale: s })).toThrow(/--estimation-scale must be a finite number > 0/);
    expect(() => resolveConfig({ id: 'mnist', divergence: 'hinge' as 'jsd' })).toThrow(/--divergence must be one of linear, reciprocal, detached, jsd, directional/);
  });
});
