import { AresError } from '../errors.js';
import type { ImageSet, Normalization, Shape } from './types.js';

/**
 * Per-channel normalisation. Sets stay in [0, 1] in memory; a model sees (x − mean[c]) / std[c].
 * The trainer applies it per batch (`batches(..., { normalization })` or `normalizeInPlace` after
 * augmentation such as PixMix, which works on [0, 1] pixels); evaluation may call `normalize`
 * once on a whole set. The statistics come from the training split only.
 */

/** Mean and (population) standard deviation of each channel over every pixel of the set. */
export function computeNormalization(set: Pick<ImageSet, 'images' | 'shape' | 'name'>): Normalization {
  const c = set.shape[2];
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const x = set.images;
  for (let i = 0; i < x.length; i += c) {
    for (let ch = 0; ch < c; ch++) { const v = x[i + ch]; sum[ch] += v; sq[ch] += v * v; }
  }
  const n = x.length / c;
  if (n === 0) throw new AresError(`${set.name}: cannot compute normalisation of an empty set`);
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sq, (s, ch) => Math.sqrt(Math.max(0, s / n - mean[ch] * mean[ch])));
  if (std.some((s) => !(s > 1e-8))) {
    throw new AresError(`${set.name}: a channel has zero variance over the training images (std ${std.map((s) => s.toFixed(4)).join(', ')}); every pixel is the same`);
  }
  return { mean, std };
}

/** Throws unless `norm` has one finite mean and one positive std per channel. */
export function checkNormalization(norm: Normalization, channels: number, what = 'normalization'): Normalization {
  const ok = Array.isArray(norm?.mean) && Array.isArray(norm?.std) && norm.mean.length === channels && norm.std.length === channels
    && norm.mean.every(Number.isFinite) && norm.std.every((s) => Number.isFinite(s) && s > 0);
  if (!ok) {
    throw new AresError(`${what}: expected {mean, std} with ${channels} finite values each and std > 0, got ${JSON.stringify(norm)}`, { exitCode: 2 });
  }
  return { mean: [...norm.mean], std: [...norm.std] };
}

/** A normalised copy of NHWC images. */
export function normalize(images: Float32Array, shape: Shape, norm: Normalization): Float32Array {
  const out = new Float32Array(images);
  normalizeInPlace(out, shape[2], norm);
  return out;
}

/** Normalises NHWC values in place (channel is the fastest-varying index). */
export function normalizeInPlace(x: Float32Array, channels: number, norm: Normalization): void {
  if (channels === 1) {
    const m = norm.mean[0];
    const s = 1 / norm.std[0];
    for (let i = 0; i < x.length; i++) x[i] = (x[i] - m) * s;
    return;
  }
  const inv = norm.std.map((s) => 1 / s);
  for (let i = 0; i < x.length; i += channels) {
    for (let ch = 0; ch < channels; ch++) x[i + ch] = (x[i + ch] - norm.mean[ch]) * inv[ch];
  }
}

/** Undoes normalisation in place (for showing images that a model saw). */
export function denormalizeInPlace(x: Float32Array, channels: number, norm: Normalization): void {
  for (let i = 0; i < x.length; i += channels) {
    for (let ch = 0; ch < channels; ch++) x[i + ch] = x[i + ch] * norm.std[ch] + norm.mean[ch];
  }
}
