/**
 * The nine PixMix/AugMix base augmentations, on one float NHWC image in [0, 1]:
 * autocontrast, equalize, posterize, rotate, solarize, shear x/y, translate x/y.
 * Parameters follow PixMix's definitions: a level drawn uniformly in [0.1, severity] and scaled
 * against a maximum given for severity 10. The colour ops are defined on 8-bit values, so they
 * quantise to 256 levels; the geometric ops sample bilinearly in float, filling with black
 * outside the source, as PIL's affine transform does.
 */
import type { Rng } from '../util/rng.js';

export type Shape3 = [number, number, number];

/** Writes an augmented copy of `src` into `dst` (both H·W·C). `dst` must not alias `src`. */
export type AugmentOp = (src: Float32Array, dst: Float32Array, shape: Shape3, rng: Rng, severity: number) => void;

const sampleLevel = (rng: Rng, severity: number) => 0.1 + (severity - 0.1) * rng.uniform();
const intParameter = (level: number, max: number) => Math.trunc((level * max) / 10);
const floatParameter = (level: number, max: number) => (level * max) / 10;
const randomSign = (rng: Rng) => (rng.uniform() < 0.5 ? -1 : 1);

const quantise = (v: number) => Math.round((v <= 0 ? 0 : v >= 1 ? 1 : v) * 255);

/** Applies one 256-entry table per channel (tables built from that channel's histogram). */
function applyChannelLut(src: Float32Array, dst: Float32Array, c: number, makeLut: (hist: Uint32Array) => Uint8Array | null): void {
  const n = src.length / c;
  for (let k = 0; k < c; k++) {
    const hist = new Uint32Array(256);
    for (let p = 0; p < n; p++) hist[quantise(src[p * c + k])]++;
    const lut = makeLut(hist);
    for (let p = 0; p < n; p++) {
      const q = quantise(src[p * c + k]);
      dst[p * c + k] = (lut ? lut[q] : q) / 255;
    }
  }
}

/** A fixed table for every channel (posterize, solarize). */
function applyLut(src: Float32Array, dst: Float32Array, lut: Uint8Array): void {
  for (let i = 0; i < src.length; i++) dst[i] = lut[quantise(src[i])] / 255;
}

/** Stretches each channel's [min, max] to [0, 255] (PIL ImageOps.autocontrast, no cutoff). */
export const autocontrast: AugmentOp = (src, dst, shape) => applyChannelLut(src, dst, shape[2], (hist) => {
  let lo = 0, hi = 255;
  while (lo < 256 && hist[lo] === 0) lo++;
  while (hi >= 0 && hist[hi] === 0) hi--;
  if (hi <= lo) return null;
  const scale = 255 / (hi - lo);
  const lut = new Uint8Array(256);
  // The 1e-9 lets hi land on 255 exactly (PIL's float rounding sometimes gives 254).
  for (let i = 0; i < 256; i++) lut[i] = Math.min(255, Math.max(0, Math.trunc((i - lo) * scale + 1e-9)));
  return lut;
});

/** Histogram equalisation per channel (PIL ImageOps.equalize). */
export const equalize: AugmentOp = (src, dst, shape) => applyChannelLut(src, dst, shape[2], (hist) => {
  let total = 0, last = 0, used = 0;
  for (let i = 0; i < 256; i++) if (hist[i] > 0) { total += hist[i]; last = hist[i]; used++; }
  if (used <= 1) return null;
  // PIL spreads all but the brightest level's pixels evenly over 256 output levels.
  const step = Math.floor((total - last) / 255);
  if (step === 0) return null;
  const lut = new Uint8Array(256);
  let n = Math.floor(step / 2);
  for (let i = 0; i < 256; i++) { lut[i] = Math.min(255, Math.floor(n / step)); n += hist[i]; }
  return lut;
});

/** Keeps the top 4 − level bits of each 8-bit value (level ∈ {0, 1} at severity 3). */
export const posterize: AugmentOp = (src, dst, _shape, rng, severity) => {
  const bits = 4 - intParameter(sampleLevel(rng, severity), 4);
  const mask = (0xff << (8 - bits)) & 0xff;
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i & mask;
  applyLut(src, dst, lut);
};

/** Inverts every 8-bit value at or above 256 − level. */
export const solarize: AugmentOp = (src, dst, _shape, rng, severity) => {
  const threshold = 256 - intParameter(sampleLevel(rng, severity), 256);
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i < threshold ? i : 255 - i;
  applyLut(src, dst, lut);
};

/**
 * Inverse-maps every output pixel through (xin, yin) = (a·x + b·y + c, d·x + e·y + f) in
 * continuous coordinates (pixel centres at i + 0.5) and samples bilinearly; points outside the
 * source image are black, neighbours at the border are clamped (PIL's convention).
 */
export function affineSample(src: Float32Array, dst: Float32Array, shape: Shape3, m: readonly number[]): void {
  const [h, w, c] = shape;
  const [a, b, cc, d, e, f] = m;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const xo = x + 0.5, yo = y + 0.5;
      const xin = a * xo + b * yo + cc, yin = d * xo + e * yo + f;
      const o = (y * w + x) * c;
      if (!(xin >= 0 && xin < w && yin >= 0 && yin < h)) {
        for (let k = 0; k < c; k++) dst[o + k] = 0;
        continue;
      }
      const sx = xin - 0.5, sy = yin - 0.5;
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      const xa = Math.max(0, x0), xb = Math.min(w - 1, x0 + 1);
      const ya = Math.max(0, y0), yb = Math.min(h - 1, y0 + 1);
      const p00 = (ya * w + xa) * c, p01 = (ya * w + xb) * c, p10 = (yb * w + xa) * c, p11 = (yb * w + xb) * c;
      for (let k = 0; k < c; k++) {
        const top = src[p00 + k] + (src[p01 + k] - src[p00 + k]) * fx;
        const bottom = src[p10 + k] + (src[p11 + k] - src[p10 + k]) * fx;
        dst[o + k] = top + (bottom - top) * fy;
      }
    }
  }
}

/** Rotation about the centre by up to 30·severity/10 whole degrees (0–8° at severity 3). */
export const rotate: AugmentOp = (src, dst, shape, rng, severity) => {
  const degrees = intParameter(sampleLevel(rng, severity), 30) * randomSign(rng);
  const t = (degrees * Math.PI) / 180;
  const cos = Math.cos(t), sin = Math.sin(t);
  const cx = shape[1] / 2, cy = shape[0] / 2;
  // in = R(−t)·(out − centre) + centre
  affineSample(src, dst, shape, [cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]);
};

/** x_in = x + s·y with |s| up to 0.3·severity/10 (uncentred, as PIL's transform). */
export const shearX: AugmentOp = (src, dst, shape, rng, severity) => {
  const s = floatParameter(sampleLevel(rng, severity), 0.3) * randomSign(rng);
  affineSample(src, dst, shape, [1, s, 0, 0, 1, 0]);
};

export const shearY: AugmentOp = (src, dst, shape, rng, severity) => {
  const s = floatParameter(sampleLevel(rng, severity), 0.3) * randomSign(rng);
  affineSample(src, dst, shape, [1, 0, 0, s, 1, 0]);
};

/** Whole-pixel shift by up to (size/3)·severity/10 pixels (0–2 px at 28 wide, severity 3). */
export const translateX: AugmentOp = (src, dst, shape, rng, severity) => {
  const t = intParameter(sampleLevel(rng, severity), shape[1] / 3) * randomSign(rng);
  affineSample(src, dst, shape, [1, 0, t, 0, 1, 0]);
};

export const translateY: AugmentOp = (src, dst, shape, rng, severity) => {
  const t = intParameter(sampleLevel(rng, severity), shape[0] / 3) * randomSign(rng);
  affineSample(src, dst, shape, [1, 0, 0, 0, 1, t]);
};

/** PixMix's list (without the four ops that overlap the corruption benchmarks). */
export const AUGMENTATIONS: ReadonlyArray<{ name: string; op: AugmentOp }> = [
  { name: 'autocontrast', op: autocontrast },
  { name: 'equalize', op: equalize },
  { name: 'posterize', op: posterize },
  { name: 'rotate', op: rotate },
  { name: 'solarize', op: solarize },
  { name: 'shear_x', op: shearX },
  { name: 'shear_y', op: shearY },
  { name: 'translate_x', op: translateX },
  { name: 'translate_y', op: translateY },
];

/** One of the nine, chosen uniformly, applied at `severity`. */
export function augmentImage(src: Float32Array, dst: Float32Array, shape: Shape3, rng: Rng, severity: number): void {
  AUGMENTATIONS[rng.int(AUGMENTATIONS.length)].op(src, dst, shape, rng, severity);
}
