/**
 * The input contract: how any decoded image becomes the [h, w, c] pixels in [0, 1] a model takes.
 * fit, train, eval and `ares predict` (through decodeImage and conformSet), the exported Node
 * loader and the browser page (through src/export/input.ts) all call this one module, so one photo
 * gets one score everywhere. Pure TypeScript over typed arrays with no Node imports: esbuild
 * bundles it into the exported loader, and the same arithmetic runs in Node and in browsers.
 *
 * The contract, in order:
 *  1. values: 8-bit 0–255, 16-bit 0–65535 or float [0, 1];
 *  2. alpha: composited onto black (value × alpha), then dropped;
 *  3. resize to [h, w] with antialiased bilinear (PIL-style triangle filter), by `ResizeMode`;
 *  4. channels: grey → RGB repeats the value, RGB → grey is ITU-R 601 luma.
 * Normalisation ((x − mean) / std) comes after, from the detector description.
 */
import { AresError } from '../errors.js';

/**
 * crop: scale the shorter side to fit and centre-crop the rest (the default);
 * stretch: scale each side on its own (aspect ratio lost);
 * pad: scale the longer side to fit and fill the margins with black.
 */
export const RESIZE_MODES = ['crop', 'stretch', 'pad'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];
export const DEFAULT_RESIZE: ResizeMode = 'crop';

// Names the project used before the three modes (data inspect --fit, predict --fit).
const LEGACY: Record<string, ResizeMode> = { cover: 'crop', fill: 'stretch' };

export function isResizeMode(v: unknown): v is ResizeMode {
  return (RESIZE_MODES as readonly unknown[]).includes(v);
}

/** A flag's or file's value as a ResizeMode; `where` names it in the error. */
export function parseResizeMode(v: unknown, where: string): ResizeMode {
  if (isResizeMode(v)) return v;
  if (typeof v === 'string' && LEGACY[v]) return LEGACY[v];
  throw new AresError(`${where} must be one of ${RESIZE_MODES.join(', ')}, got ${JSON.stringify(v)}`, { exitCode: 2 });
}

/** A decoded image: row-major pixels with 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) values each. */
export interface PixelImage {
  width: number;
  height: number;
  /** Uint8 / Uint8Clamped: 0–255; Uint16: 0–65535; Float32: [0, 1]. */
  data: Uint8Array | Uint8ClampedArray | Uint16Array | Float32Array;
}

/** Values per pixel of `img`; an AresError naming `what` when it is not 1–4 whole values. */
export function pixelChannels(img: PixelImage, what: string): number {
  const px = img.width * img.height;
  const k = px > 0 ? img.data.length / px : 0;
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || ![1, 2, 3, 4].includes(k)) {
    throw new AresError(`${what}: ${img.data.length} values for ${img.width}×${img.height} pixels (expected 1, 2, 3 or 4 per pixel)`);
  }
  return k;
}

/** The contract: `img` as [h, w, c] float32 pixels in [0, 1] for a model taking `shape`. */
export function toModelPixels(img: PixelImage, [h, w, c]: readonly [number, number, number], mode: ResizeMode, what = 'image'): Float32Array {
  if (c !== 1 && c !== 3) throw new AresError(`the model takes ${c} channels; images can be given to models with 1 (grey) or 3 (RGB)`);
  const k = pixelChannels(img, what);
  const colour = k >= 3 ? 3 : 1;
  // Luma before resizing when the model wants grey (less to resize); repeating after, for RGB.
  // Both are linear, so the order only changes rounding — and every caller runs this same code.
  const early = colour === 3 && c === 1;
  const resized = resizeRows(img, k, early ? 1 : colour, [h, w], mode);
  return early || colour === c ? resized : convertChannels(resized, h * w, colour, c);
}

/** grey → RGB repeats the value; RGB → grey uses ITU-R 601 luma (as PIL's "L" and sharp do). */
export function convertChannels(src: Float32Array, pixels: number, from: number, to: number): Float32Array {
  if (from === to) return src;
  const out = new Float32Array(pixels * to);
  if (from === 1 && to === 3) {
    for (let p = 0; p < pixels; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
  } else if (from === 3 && to === 1) {
    for (let p = 0; p < pixels; p++) out[p] = LUMA_R * src[3 * p] + LUMA_G * src[3 * p + 1] + LUMA_B * src[3 * p + 2];
  } else {
    throw new AresError(`cannot convert images with ${from} channels to ${to}`);
  }
  return out;
}

const LUMA_R = 0.299, LUMA_G = 0.587, LUMA_B = 0.114;

/**
 * Resizes already-[0, 1] float images (a batch of `count`, all [h, w, c]) to [oh, ow] by `mode`.
 * The in-memory path (conformSet); one image of it is what toModelPixels computes.
 */
export function resizeImages(src: Float32Array, count: number, [h, w, c]: readonly [number, number, number], [oh, ow]: readonly [number, number], mode: ResizeMode): Float32Array {
  const per = h * w * c;
  const out = new Float32Array(count * oh * ow * c);
  for (let n = 0; n < count; n++) {
    out.set(resizeRows({ width: w, height: h, data: src.subarray(n * per, (n + 1) * per) }, c, c, [oh, ow], mode), n * oh * ow * c);
  }
  return out;
}

/** Where the resized picture lands in the [oh, ow] output, and the scale on each axis. */
interface Placement { ih: number; iw: number; top: number; left: number; sy: number; sx: number }

function placement(h: number, w: number, oh: number, ow: number, mode: ResizeMode): Placement {
  if (mode === 'stretch') return { ih: oh, iw: ow, top: 0, left: 0, sy: oh / h, sx: ow / w };
  if (mode === 'crop') {
    // One scale; the window axisWeights centres on the input does the cropping.
    const s = Math.max(oh / h, ow / w);
    return { ih: oh, iw: ow, top: 0, left: 0, sy: s, sx: s };
  }
  // pad: the whole image fits inside; the margins (split evenly, the odd pixel after) stay black.
  const s = Math.min(oh / h, ow / w);
  const ih = Math.min(oh, Math.max(1, Math.round(h * s)));
  const iw = Math.min(ow, Math.max(1, Math.round(w * s)));
  return { ih, iw, top: Math.floor((oh - ih) / 2), left: Math.floor((ow - iw) / 2), sy: ih / h, sx: iw / w };
}

/**
 * One image with `k` values per pixel → [oh, ow, outC] floats in [0, 1], where outC is 1 (grey,
 * or luma of colour) or 3. Alpha is composited onto black row by row while reading, so no
 * full-size float copy of a large photo is ever made: memory is one input row plus [h, iw].
 */
function resizeRows(img: PixelImage, k: number, outC: number, [oh, ow]: readonly [number, number], mode: ResizeMode): Float32Array {
  const { width: w, height: h, data } = img;
  const scale = data instanceof Float32Array ? 1 : data instanceof Uint16Array ? 1 / 65535 : 1 / 255;
  const p = placement(h, w, oh, ow, mode);
  const cols = p.iw === w && p.sx === 1 ? null : axisWeights(w, p.iw, p.sx);
  const rows = p.ih === h && p.sy === 1 ? null : axisWeights(h, p.ih, p.sy);
  // Only the rows and columns some output pixel reads (crop leaves the margins unread).
  const [x0, x1] = cols ? usedRange(cols) : [0, w];
  const [y0, y1] = rows ? usedRange(rows) : [0, h];
  const row = new Float32Array(w * outC);
  const tmp = new Float32Array(h * p.iw * outC);
  for (let y = y0; y < y1; y++) {
    readRow(data, y * w * k, x0, x1, k, outC, scale, row);
    const t = tmp.subarray(y * p.iw * outC, (y + 1) * p.iw * outC);
    if (!cols) { t.set(row); continue; }
    for (let x = 0; x < p.iw; x++) {
      const { start, weights } = cols[x];
      if (outC === 3) {
        // The same sums as the general loop below, three channels per pass over the taps.
        let r = 0, g = 0, b = 0;
        for (let i = 0, j = 3 * start; i < weights.length; i++, j += 3) {
          const wt = weights[i];
          r += wt * row[j]; g += wt * row[j + 1]; b += wt * row[j + 2];
        }
        t[3 * x] = r; t[3 * x + 1] = g; t[3 * x + 2] = b;
        continue;
      }
      let acc = 0;
      for (let i = 0; i < weights.length; i++) acc += weights[i] * row[start + i];
      t[x] = acc;
    }
  }
  const out = new Float32Array(oh * ow * outC);
  const line = p.iw * outC;
  for (let y = 0; y < p.ih; y++) {
    const o = ((p.top + y) * ow + p.left) * outC;
    if (!rows) {
      for (let i = 0; i < line; i++) out[o + i] = clamp01(tmp[y * line + i]);
      continue;
    }
    const { start, weights } = rows[y];
    for (let i = 0; i < line; i++) {
      let acc = 0;
      for (let t = 0; t < weights.length; t++) acc += weights[t] * tmp[(start + t) * line + i];
      out[o + i] = clamp01(acc);
    }
  }
  return out;
}

/** [first, end) of the input indices the taps read. */
function usedRange(taps: Tap[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const t of taps) { lo = Math.min(lo, t.start); hi = Math.max(hi, t.start + t.weights.length); }
  return [lo, hi];
}

/**
 * Pixels x0..x1−1 of the row starting at data[at] into `row` as outC-channel floats: scaled to
 * [0, 1], alpha applied (composited onto black), luma taken when colour goes to grey. One loop per
 * layout keeps each tight (this runs on every pixel of a photo).
 */
function readRow(data: PixelImage['data'], at: number, x0: number, x1: number, k: number, outC: number, scale: number, row: Float32Array): void {
  if (k === 1) {
    for (let x = x0; x < x1; x++) row[x] = data[at + x] * scale;
  } else if (k === 2) {
    for (let x = x0; x < x1; x++) row[x] = data[at + 2 * x] * scale * (data[at + 2 * x + 1] * scale);
  } else if (outC === 1) {
    const a = k === 4;
    for (let x = x0; x < x1; x++) {
      const i = at + k * x;
      row[x] = (LUMA_R * data[i] + LUMA_G * data[i + 1] + LUMA_B * data[i + 2]) * scale * (a ? data[i + 3] * scale : 1);
    }
  } else if (k === 3) {
    for (let x = x0; x < x1; x++) {
      const i = at + 3 * x;
      row[3 * x] = data[i] * scale;
      row[3 * x + 1] = data[i + 1] * scale;
      row[3 * x + 2] = data[i + 2] * scale;
    }
  } else {
    for (let x = x0; x < x1; x++) {
      const i = at + 4 * x;
      const a = data[i + 3] * scale;
      row[3 * x] = data[i] * scale * a;
      row[3 * x + 1] = data[i + 1] * scale * a;
      row[3 * x + 2] = data[i + 2] * scale * a;
    }
  }
}

// Normalised weights can overshoot 1 by an ulp; keep the [0, 1] contract exact.
const clamp01 = (v: number) => (v > 1 ? 1 : v < 0 ? 0 : v);

interface Tap { start: number; weights: Float32Array }

/**
 * For each output index, the input indices it reads and their normalised weights: a triangle
 * filter that widens when shrinking (PIL-style antialiasing, so a large reduction averages instead
 * of aliasing). Centre-aligned: the output window (outSize / scale input pixels) sits in the middle
 * of the input, which is how crop cuts equal margins off both ends.
 */
function axisWeights(inSize: number, outSize: number, scale: number): Tap[] {
  const offset = (inSize - outSize / scale) / 2;
  const support = Math.max(1, 1 / scale);
  const taps: Tap[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = offset + (o + 0.5) / scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(inSize - 1, Math.floor(centre + support));
    const ws: number[] = [];
    let sum = 0;
    for (let i = lo; i <= hi; i++) { const v = Math.max(0, 1 - Math.abs(i - centre) / support); ws.push(v); sum += v; }
    if (sum === 0) {
      // The centre falls outside the image (tiny images): take the nearest pixel.
      const near = Math.min(inSize - 1, Math.max(0, Math.round(centre)));
      taps.push({ start: near, weights: Float32Array.of(1) });
    } else {
      taps.push({ start: lo, weights: Float32Array.from(ws, (v) => v / sum) });
    }
  }
  return taps;
}
