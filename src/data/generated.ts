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
 *
 * Validation-only noise (`ares fit`/`train --score auto` picks the deployed score on these; they are
 * deliberately NOT the Gaussian or uniform generators, which the benchmark uses as test OOD sets):
 * - salt-pepper:  a flat grey image (level U[0.2, 0.8]) with 10% of the pixels set to 0 or 1 —
 *                 sparse impulses, not dense noise;
 * - smooth-noise: U[0, 1] values blurred with σ = an eighth of the side, then stretched to fill
 *                 [0, 1] per image — low-frequency clouds with no edges;
 * - solid:        one random colour (each channel U[0, 1]) over the whole image;
 * - stripes:      a square wave of random period (4 px to half the side), angle and phase between
 *                 two random colours;
 * - checkerboard: squares of a random size (2 px to a quarter of the side) in two random colours.
 * Each kind draws from its own stream (generatedRng), shared with no other kind or purpose.
 */
export const VALIDATION_NOISE_KINDS = ['salt-pepper', 'smooth-noise', 'solid', 'stripes', 'checkerboard'] as const;
export const GENERATED_KINDS = ['gaussian', 'uniform', 'blobs', ...VALIDATION_NOISE_KINDS] as const;
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
    else if (kind === 'blobs') blob(img, opts.shape, rng);
    else if (kind === 'salt-pepper') saltPepper(img, opts.shape, rng);
    else if (kind === 'smooth-noise') smoothNoise(img, opts.shape, rng);
    else if (kind === 'solid') solid(img, opts.shape, rng);
    else if (kind === 'stripes') stripes(img, opts.shape, rng);
    else checkerboard(img, opts.shape, rng);
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

function saltPepper(img: Float32Array, [h, w, c]: Shape, rng: Rng): void {
  img.fill(0.2 + 0.6 * rng.uniform());
  for (let p = 0; p < h * w; p++) {
    if (rng.uniform() >= 0.1) continue;
    const v = rng.uniform() < 0.5 ? 0 : 1;
    for (let ch = 0; ch < c; ch++) img[p * c + ch] = v;
  }
}

function smoothNoise(img: Float32Array, shape: Shape, rng: Rng): void {
  for (let i = 0; i < img.length; i++) img[i] = rng.uniform();
  gaussianBlur(img, shape, Math.max(Math.min(shape[0], shape[1]) / 8, 0.5));
  let lo = Infinity, hi = -Infinity;
  for (const v of img) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const span = hi - lo > 1e-6 ? hi - lo : 1;
  for (let i = 0; i < img.length; i++) img[i] = (img[i] - lo) / span;
}

function randomColour(c: number, rng: Rng): number[] {
  return Array.from({ length: c }, () => rng.uniform());
}

function solid(img: Float32Array, [h, w, c]: Shape, rng: Rng): void {
  const colour = randomColour(c, rng);
  for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) img[p * c + ch] = colour[ch];
}

/** Two random colours for a two-tone pattern; `first(y, x)` says which one a pixel gets. */
function twoTone(img: Float32Array, [h, w, c]: Shape, rng: Rng, first: (y: number, x: number) => boolean): void {
  const a = randomColour(c, rng), b = randomColour(c, rng);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const colour = first(y, x) ? a : b;
      for (let ch = 0; ch < c; ch++) img[(y * w + x) * c + ch] = colour[ch];
    }
  }
}

function stripes(img: Float32Array, shape: Shape, rng: Rng): void {
  const side = Math.min(shape[0], shape[1]);
  const period = 4 + rng.uniform() * Math.max(0, side / 2 - 4);
  const angle = rng.uniform() * Math.PI, phase = rng.uniform() * period;
  const [dy, dx] = [Math.sin(angle), Math.cos(angle)];
  twoTone(img, shape, rng, (y, x) => ((((y * dy + x * dx + phase) % period) + period) % period) < period / 2);
}

function checkerboard(img: Float32Array, shape: Shape, rng: Rng): void {
  const side = Math.min(shape[0], shape[1]);
  const size = 2 + Math.floor(rng.uniform() * Math.max(1, side / 4 - 1));
  twoTone(img, shape, rng, (y, x) => (Math.floor(y / size) + Math.floor(x / size)) % 2 === 0);
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

/**
 * Validation OOD sets made only from ID validation images, so they share no generator with any
 * test set (the Gaussian/uniform test sets are generated noise, `blobs` is a sibling generator):
 * - pixel-permuted:  each image's pixel positions shuffled (channels move together) — the
 *                    intensity histogram of real ID images with no spatial structure left;
 * - patch-shuffled:  each image cut into a 4×4 grid of patches, the patches shuffled — local ID
 *                    texture and strokes, the global shape broken;
 * - blurred:         a heavy Gaussian blur (σ = a tenth of the image side, 2.8 px at 28 px) — the
 *                    rough silhouette and brightness of an ID image, no detail.
 * Each is deterministic by seed (its own stream) and has as many images as the validation split.
 */
export const DERIVED_KINDS = ['pixel-permuted', 'patch-shuffled', 'blurred'] as const;
export type DerivedKind = (typeof DERIVED_KINDS)[number];

export function isDerivedKind(name: string): name is DerivedKind {
  return (DERIVED_KINDS as readonly string[]).includes(name);
}

/** Patches per side for patch-shuffled. */
export const PATCH_GRID = 4;

export function deriveSet(kind: DerivedKind, from: ImageSet, seed: number): ImageSet {
  if (from.count === 0) throw new AresError(`${kind}: made from the ID validation split, which is empty (raise valFraction)`, { exitCode: 2 });
  const [h, w, c] = from.shape;
  const per = h * w * c;
  const rng = Rng.stream(seed, `derived/${kind}`);
  const images = new Float32Array(from.images.subarray(0, from.count * per));
  for (let n = 0; n < from.count; n++) {
    const img = images.subarray(n * per, (n + 1) * per);
    if (kind === 'pixel-permuted') permutePixels(img, from.shape, rng);
    else if (kind === 'patch-shuffled') shufflePatches(img, from.shape, rng);
    else gaussianBlur(img, from.shape, Math.min(h, w) / 10);
  }
  return { name: kind, shape: [h, w, c], count: from.count, images, split: 'all' };
}

function permutePixels(img: Float32Array, [h, w, c]: Shape, rng: Rng): void {
  const src = img.slice();
  const perm = rng.permutation(h * w);
  for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) img[p * c + ch] = src[perm[p] * c + ch];
}

/** Patch edges: the grid's cut points along one side (sizes differ by at most one pixel). */
function cuts(n: number): number[] {
  return Array.from({ length: PATCH_GRID + 1 }, (_, i) => Math.round((i * n) / PATCH_GRID));
}

/**
 * Shuffles the PATCH_GRID² patches among the positions whose patch has the same size (when the side
 * does not divide evenly, e.g. 28 = 7·4 does, 30 does not), so every pixel is moved, none lost.
 */
function shufflePatches(img: Float32Array, [h, w, c]: Shape, rng: Rng): void {
  const src = img.slice();
  const ys = cuts(h), xs = cuts(w);
  const cells: { y: number; x: number; ph: number; pw: number }[] = [];
  for (let i = 0; i < PATCH_GRID; i++) for (let j = 0; j < PATCH_GRID; j++) cells.push({ y: ys[i], x: xs[j], ph: ys[i + 1] - ys[i], pw: xs[j + 1] - xs[j] });
  const bySize = new Map<string, number[]>();
  cells.forEach((cell, k) => { const key = `${cell.ph}x${cell.pw}`; bySize.set(key, [...(bySize.get(key) ?? []), k]); });
  for (const group of bySize.values()) {
    const order = rng.permutation(group.length);
    group.forEach((dst, k) => {
      const a = cells[dst], b = cells[group[order[k]]];
      for (let y = 0; y < a.ph; y++) {
        const from = ((b.y + y) * w + b.x) * c, to = ((a.y + y) * w + a.x) * c;
        img.set(src.subarray(from, from + a.pw * c), to);
      }
    });
  }
}
