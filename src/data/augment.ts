import type { Rng } from '../util/rng.js';
import type { Shape } from './types.js';

/**
 * The standard CIFAR training augmentation (as torchvision's RandomCrop(size, padding=4) followed
 * by RandomHorizontalFlip): pad with zeros, crop a random window of the original size, mirror with
 * probability 1/2. Works in place on a batch of NHWC [0, 1] images; draws from `rng` only.
 */
export function randomCropFlip(x: Float32Array, shape: Shape, rng: Rng, opts: { pad?: number; flip?: boolean } = {}): void {
  const [h, w, c] = shape;
  const pad = opts.pad ?? 4;
  const flip = opts.flip ?? true;
  const per = h * w * c;
  const tmp = new Float32Array(per);
  for (let n = 0; n < x.length / per; n++) {
    const img = x.subarray(n * per, (n + 1) * per);
    const dy = rng.int(2 * pad + 1) - pad;
    const dx = rng.int(2 * pad + 1) - pad;
    const mirror = flip && rng.uniform() < 0.5;
    tmp.fill(0);
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue;
      for (let xo = 0; xo < w; xo++) {
        const sx0 = (mirror ? w - 1 - xo : xo) + dx;
        if (sx0 < 0 || sx0 >= w) continue;
        const src = (sy * w + sx0) * c;
        const dst = (y * w + xo) * c;
        for (let ch = 0; ch < c; ch++) tmp[dst + ch] = img[src + ch];
      }
    }
    img.set(tmp);
  }
}

/** Training-time augmentation of the raw batch: CIFAR-standard crop + flip, or none; `auto` picks by the data shape. */
export type AugmentMode = 'crop-flip' | 'none';
export const AUGMENT_MODES = ['auto', 'crop-flip', 'none'] as const;
export type AugmentSetting = (typeof AUGMENT_MODES)[number];

/**
 * What `auto` means for a data shape: crop + flip for colour images of 32×32 and larger (the CIFAR
 * recipe every compared method trains with), none for grey or smaller images — digits and
 * Fashion-MNIST are not flip-invariant and their reference recipe has no augmentation.
 */
export function resolveAugment(setting: AugmentSetting | undefined, shape: Shape): AugmentMode {
  if (setting === 'crop-flip' || setting === 'none') return setting;
  const [h, w, c] = shape;
  return c === 3 && h >= 32 && w >= 32 ? 'crop-flip' : 'none';
}

/** Applies `mode` to a batch in place, drawing only from `rng` (so the caller decides the stream). */
export function augmentBatch(x: Float32Array, shape: Shape, mode: AugmentMode, rng: Rng): void {
  if (mode === 'crop-flip') randomCropFlip(x, shape, rng);
}
