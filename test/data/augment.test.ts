import { describe, expect, it } from 'vitest';
import { randomCropFlip, resolveAugment } from '../../src/data/augment.js';
import { augmentRawBatch } from '../../src/methods/train.js';
import { resolveConfig } from '../../src/pipeline/train-run.js';
import { Rng } from '../../src/util/rng.js';
import { BENCH_INPUT } from '../../src/bench/ce-step.js';
import type { Shape } from '../../src/data/types.js';

const shape: Shape = [32, 32, 3];
const batchOf = (n: number, seed = 1) => { const r = new Rng(seed); return Float32Array.from({ length: n * 32 * 32 * 3 }, () => 0.05 + 0.9 * r.uniform()); };
const cfg = (over: Record<string, unknown> = {}) => resolveConfig({ id: 'x', seed: 4, ...over });
const augmented = (epoch: number, batch: number, c = cfg()) => { const x = batchOf(8); augmentRawBatch(c, shape, x, epoch, batch); return x; };

describe('training augmentation (crop + flip)', () => {
  it('defaults: crop-flip for RGB of 32×32 and larger, none for grey 28×28 and for small images', () => {
    expect(resolveAugment('auto', [32, 32, 3])).toBe('crop-flip');
    expect(resolveAugment('auto', [64, 48, 3])).toBe('crop-flip');
    expect(resolveAugment('auto', [28, 28, 1])).toBe('none');
    expect(resolveAugment('auto', [32, 32, 1])).toBe('none');
    expect(resolveAugment('auto', [28, 28, 3])).toBe('none');
    expect(resolveAugment('none', [32, 32, 3])).toBe('none');
    expect(resolveAugment('crop-flip', [28, 28, 1])).toBe('crop-flip');
    expect(cfg().augment).toBe('auto');
    // `ares bench` times the step with the augmentation training would use for that input.
    expect(BENCH_INPUT.cnn.augment).toBe('none');
    expect(BENCH_INPUT['wrn40-2'].augment).toBe('crop-flip');
    expect(BENCH_INPUT.resnet18.augment).toBe('crop-flip');
    expect(() => cfg({ augment: 'rotate' })).toThrow(/--augment must be one of auto, crop-flip, none/);
  });

  it('draws the same crops for the same (seed, epoch, batch) and different ones otherwise', () => {
    const a = augmented(3, 5);
    expect(augmented(3, 5)).toEqual(a);
    expect(a).not.toEqual(batchOf(8));
    expect(augmented(3, 6)).not.toEqual(a);
    expect(augmented(4, 5)).not.toEqual(a);
    expect(augmented(3, 5, cfg({ seed: 5 }))).not.toEqual(a);
  });

  it('leaves a grey 28×28 batch untouched under auto, and any batch under none', () => {
    const grey = Float32Array.from({ length: 4 * 28 * 28 }, (_, i) => (i % 7) / 7);
    const copy = Float32Array.from(grey);
    augmentRawBatch(cfg(), [28, 28, 1], grey, 0, 0);
    expect(grey).toEqual(copy);
    const x = batchOf(4);
    augmentRawBatch(cfg({ augment: 'none' }), shape, x, 0, 0);
    expect(x).toEqual(batchOf(4));
  });

  it('each image is its own shifted (and maybe mirrored) copy with zero padding: pixels move, none are invented', () => {
    const x = batchOf(16, 9);
    const orig = Float32Array.from(x);
    randomCropFlip(x, shape, new Rng(2));
    const per = 32 * 32 * 3;
    let shifted = 0;
    for (let n = 0; n < 16; n++) {
      const img = x.subarray(n * per, (n + 1) * per), src = orig.subarray(n * per, (n + 1) * per);
      // Find the (dy, dx, mirror) that explains the output exactly.
      let found = false;
      for (let dy = -4; dy <= 4 && !found; dy++) for (let dx = -4; dx <= 4 && !found; dx++) for (const m of [false, true]) {
        let ok = true;
        for (let y = 0; y < 32 && ok; y++) for (let xo = 0; xo < 32 && ok; xo++) {
          const sy = y + dy, sx = (m ? 31 - xo : xo) + dx;
          for (let c = 0; c < 3; c++) {
            const want = sy < 0 || sy >= 32 || sx < 0 || sx >= 32 ? 0 : src[(sy * 32 + sx) * 3 + c];
            if (img[(y * 32 + xo) * 3 + c] !== want) { ok = false; break; }
          }
        }
        if (ok) { found = true; if (dy !== 0 || dx !== 0 || m) shifted++; break; }
      }
      expect(found).toBe(true);
    }
    expect(shifted).toBeGreaterThan(8);
  });
});
