import { Rng } from '../util/rng.js';
import { AresError } from '../errors.js';
import type { ImageSet, Shape, Split } from './types.js';

/**
 * Synthetic OOD sets, as in Outlier Exposure (Hendrycks et al., 2019), expressed in [0,1] pixels:
 * - gaussian: each value i.i.d. N(0.5, 0.25²), clipped to [0, 1];
 * - uniform:  each value i.i.d. U[0, 1];
 * - blobs:    Bernoulli(0.7) values, Gaussian-blurred (σ = 1.5 px at 32 px, scaled with the image),
 *             values below 0.75 set to 0 — amorphous shapes with definite edges.
 * Deterministic by (kind, seed, split): train and test draws differ so a validation set never equals a test set.
 */
export const GENERATED_KINDS = ['gaussian', 'uniform', 'blobs'] as const;
export type GeneratedKind = (typeof GENERATED_KINDS)[number];

export const DEFAULT_GENERATED_COUNT = 2000;

export function isGeneratedKind(name: string): name is GeneratedKind {
  return (GENERATED_KINDS as readonly string[]).includes(name);
}

export function generateSet(kind: GeneratedKind, opts: { shape: Shape; count?: number; seed?: number; split?: Split }): ImageSet {
  const count = opts.count ?? DEFAULT_GENERATED_COUNT;
  if (!Number.isInteger(count) || count <= 0) throw new AresError(`${kind}: count must be a positive integer, got ${count}`, { exitCode: 2 });
  const [h, w, c] = opts.shape;
  const per = h * w * c;
  const rng = generatedRng(kind, opts.seed ?? 0, opts.split);
  const images = new Float32Array(count * per);
  for (let n = 0; n < count; n++) {
    const img = images.subarray(n * per, (n + 1) * per);
    if (kind === 'gaussian') for (let i = 0; i < per; i++) img[i] = clip01(0.5 + 0.25 * rng.normal());
    else if (kind === 'uniform') for (let i = 0; i < per; i++) img[i] = rng.uniform();
    else blob(img, opts.shape, rng);
  }
  return { name: opts.split ? `${kind}:${opts.split}` : kind, shape: [h, w, c], count, images, split: 'all' };
}

/** The stream of one generated set: its own per (kind, split), shared with no other purpose. */
export function generatedRng(kind: string, seed: number, split?: Split): Rng {
  return Rng.stream(seed, `generated/${kind}/${split === 'test' ? 'test' : 'train'}`);
}

function blob(img: Float32Array, [h, w, c]: Shape, rng: Rng): void {
  for (let i = 0; i < img.length; i++) img[i] = rng.uniform() < 0.7 ? 1 : 0;
  const sigma = 1.5 * (Math.min(h, w) / 32);
  gaussianBlur(img, [h, w, c], Math.max(sigma, 0.5));
  for (let i = 0; i < img.length; i++) if (img[i] < 0.75) img[i] = 0;
}

/** Separable Gaussian blur of each channel in place; edges repeat the nearest pixel. */
export function gaussianBlur(img: Float32Array, [h, w, c]: Shape, sigma: number): void {
  const r = Math.ceil(4 * sigma);
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) { k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma)); sum += k[i + r]; }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float32Array(img.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let t = -r; t <= r; t++) acc += k[t + r] * img[(y * w + clampInt(x + t, w)) * c + ch];
        tmp[(y * w + x) * c + ch] = acc;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let t = -r; t <= r; t++) acc += k[t + r] * tmp[(clampInt(y + t, h) * w + x) * c + ch];
        img[(y * w + x) * c + ch] = acc;
      }
    }
  }
}

function clampInt(i: number, n: number): number {
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

function clip01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
