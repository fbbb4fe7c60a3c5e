/**
 * Fractal images for the Escape stage (PixMix's mixing set), made here instead of downloaded:
 * an iterated function system of 2–4 contractive affine maps, rendered by the chaos game as a
 * log-scaled point density. Deterministic by seed. A bank of a few thousand is built once and
 * cached on disk (fractal-cache.ts).
 */
import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { ImageSet } from '../data/types.js';

/** Bumped whenever the generator changes, so cached banks of an older generator are rebuilt. */
export const FRACTAL_GENERATOR_VERSION = 2;

export type Shape3 = [number, number, number];

/** A fractal bank is an ImageSet without labels: count images of `shape`, values in [0, 1]. */
export type FractalBank = ImageSet;

export interface FractalOptions {
  /** Chaos-game points per pixel of the image (density resolution). Default 24. */
  pointsPerPixel: number;
  /** A fractal lighting fewer than this share of pixels is "almost empty" and redrawn. Default 0.08. */
  minCoverage: number;
  /** Redraws allowed per image before giving up. Default 200. */
  maxTries: number;
}

export const DEFAULT_FRACTAL_OPTIONS: FractalOptions = { pointsPerPixel: 24, minCoverage: 0.08, maxTries: 200 };

/** One affine map p -> A p + b, A = [a11, a12, a21, a22]. */
interface AffineMap { a: [number, number, number, number]; b: [number, number]; colour: Float64Array }

/**
 * Contractive maps by the "σ-factor" rule of Anderson & Farrell (2022): the singular values of
 * the n maps satisfy Σ (σ1 + 2σ2) = α with α ~ U[(5+n)/2, (6+n)/2]. Fully random matrices mostly
 * give dust or single lines; this range gives attractors with visible structure.
 */
function sampleMaps(rng: Rng, channels: number): AffineMap[] {
  const n = 2 + rng.int(3);
  const alpha = (5 + n) / 2 + rng.uniform() / 2;
  let shares: number[];
  do {
    const raw = Array.from({ length: n }, () => 0.5 + rng.uniform());
    const total = raw.reduce((s, v) => s + v, 0);
    shares = raw.map((v) => (alpha * v) / total);
  } while (shares.some((s) => s > 2.9));
  return shares.map((share) => {
    // σ2 <= σ1 < 1 and σ1 + 2σ2 = share.
    const lo = share / 3;
    const hi = Math.min(0.97, share);
    const s1 = lo + (hi - lo) * rng.uniform();
    const s2 = (share - s1) / 2;
    const t1 = 2 * Math.PI * rng.uniform();
    const t2 = 2 * Math.PI * rng.uniform();
    const flip = rng.uniform() < 0.5 ? -1 : 1;
    // A = R(t1) · diag(s1, flip·s2) · R(t2)
    const c1 = Math.cos(t1), n1 = Math.sin(t1), c2 = Math.cos(t2), n2 = Math.sin(t2);
    const d2 = flip * s2;
    const a: AffineMap['a'] = [
      c1 * s1 * c2 - n1 * d2 * n2, -c1 * s1 * n2 - n1 * d2 * c2,
      n1 * s1 * c2 + c1 * d2 * n2, -n1 * s1 * n2 + c1 * d2 * c2,
    ];
    const colour = new Float64Array(channels);
    for (let k = 0; k < channels; k++) colour[k] = 0.15 + 0.85 * rng.uniform();
    return { a, b: [2 * rng.uniform() - 1, 2 * rng.uniform() - 1], colour };
  });
}

/**
 * Renders one fractal into `out` (H·W·C, NHWC order) and returns the share of lit pixels.
 * Grey images get the log density; colour images get the density times a colour carried along
 * the orbit (each step moves the point's colour halfway to the chosen map's colour).
 */
function renderMaps(maps: AffineMap[], shape: Shape3, rng: Rng, opts: FractalOptions, out: Float32Array): number {
  const [h, w, c] = shape;
  const weights = maps.map((m) => Math.abs(m.a[0] * m.a[3] - m.a[1] * m.a[2]) + 1e-3);
  const cum = new Float64Array(maps.length);
  let acc = 0;
  for (let i = 0; i < maps.length; i++) { acc += weights[i]; cum[i] = acc; }
  const total = Math.max(2000, Math.round(opts.pointsPerPixel * h * w));
  const warmup = 20;
  const xs = new Float64Array(total), ys = new Float64Array(total);
  const cols = c > 1 ? new Float32Array(total * c) : null;
  const col = new Float64Array(c);
  let x = 0, y = 0;
  for (let t = -warmup; t < total; t++) {
    const u = rng.uniform() * acc;
    let i = 0;
    while (i < maps.length - 1 && u >= cum[i]) i++;
    const m = maps[i];
    const nx = m.a[0] * x + m.a[1] * y + m.b[0];
    y = m.a[2] * x + m.a[3] * y + m.b[1];
    x = nx;
    if (cols) for (let k = 0; k < c; k++) col[k] = 0.5 * (col[k] + m.colour[k]);
    if (t >= 0) {
      xs[t] = x; ys[t] = y;
      if (cols) for (let k = 0; k < c; k++) cols[t * c + k] = col[k];
    }
  }
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let t = 0; t < total; t++) {
    if (xs[t] < minX) minX = xs[t]; if (xs[t] > maxX) maxX = xs[t];
    if (ys[t] < minY) minY = ys[t]; if (ys[t] > maxY) maxY = ys[t];
  }
  const span = Math.max(maxX - minX, maxY - minY);
  if (!(span > 1e-9) || !Number.isFinite(span)) return 0;
  // Keep the aspect ratio, centre the attractor, leave a one-pixel margin.
  const scale = (Math.min(h, w) - 2) / span;
  const offX = (w - (maxX - minX) * scale) / 2, offY = (h - (maxY - minY) * scale) / 2;
  const count = new Float64Array(h * w);
  const colSum = cols ? new Float64Array(h * w * c) : null;
  for (let t = 0; t < total; t++) {
    const px = Math.min(w - 1, Math.max(0, Math.floor((xs[t] - minX) * scale + offX)));
    const py = Math.min(h - 1, Math.max(0, Math.floor((ys[t] - minY) * scale + offY)));
    const p = py * w + px;
    count[p]++;
    if (colSum && cols) for (let k = 0; k < c; k++) colSum[p * c + k] += cols[t * c + k];
  }
  let maxLog = 0, lit = 0;
  for (let p = 0; p < h * w; p++) {
    if (count[p] > 0) lit++;
    maxLog = Math.max(maxLog, Math.log1p(count[p]));
  }
  for (let p = 0; p < h * w; p++) {
    const intensity = Math.log1p(count[p]) / maxLog;
    for (let k = 0; k < c; k++) {
      const tint = colSum ? colSum[p * c + k] / Math.max(count[p], 1) : 1;
      // Quantised to 256 levels so a bank read back from its uint8 cache is bit-identical.
      out[p * c + k] = Math.round(Math.min(1, intensity * tint) * 255) / 255;
    }
  }
  return lit / (h * w);
}

function checkShape(shape: Shape3): void {
  if (shape.length !== 3 || !shape.every((v) => Number.isInteger(v) && v >= 1) || shape[0] < 4 || shape[1] < 4) {
    throw new AresError(`fractal shape must be [height, width, channels] of integers with height, width >= 4; got [${shape.join(', ')}]`);
  }
}

/**
 * One fractal image of `shape` drawn from `rng`, redrawn until it is not almost empty.
 * Returns H·W·C values in [0, 1] (multiples of 1/255).
 */
export function renderFractal(shape: Shape3, rng: Rng, options: Partial<FractalOptions> = {}): Float32Array {
  checkShape(shape);
  const opts = { ...DEFAULT_FRACTAL_OPTIONS, ...options };
  const out = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let attempt = 0; attempt < opts.maxTries; attempt++) {
    const maps = sampleMaps(rng, shape[2]);
    if (renderMaps(maps, shape, rng, opts, out) >= opts.minCoverage) return out;
  }
  throw new AresError(`could not draw a fractal covering ${opts.minCoverage} of a ${shape.join('x')} image in ${opts.maxTries} tries (lower minCoverage)`);
}

/** A bank of `count` fractals, deterministic by `seed` (no cache; see loadFractalBank). */
export function generateFractalBank(shape: Shape3, count: number, seed: number, options: Partial<FractalOptions> = {}): FractalBank {
  checkShape(shape);
  if (!Number.isInteger(count) || count < 1) throw new AresError(`fractal bank size must be a positive integer, got ${count}`);
  const size = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(count * size);
  const rng = Rng.stream(seed, 'fractals');
  for (let i = 0; i < count; i++) {
    // One child stream per image: image i does not depend on how many redraws image i-1 needed.
    images.set(renderFractal(shape, rng.fork(i), options), i * size);
  }
  return { name: `fractals:${seed}`, shape: [...shape], count, images };
}
