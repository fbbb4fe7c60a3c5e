import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { ImageSet, ResizeFit, Shape } from './types.js';

/**
 * Pure functions that reshape in-memory ImageSets: resize, grey↔RGB, subsets. They never modify
 * their input; each returns a new set (or the same one when nothing changes).
 */

/** A set with only the images at `indices` (in that order). */
export function selectIndices(set: ImageSet, indices: ArrayLike<number>, name = set.name): ImageSet {
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  const images = new Float32Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    images.set(set.images.subarray(j * per, (j + 1) * per), i * per);
  }
  const out: ImageSet = { ...set, name, count: indices.length, images };
  if (set.labels) out.labels = Int32Array.from({ length: indices.length }, (_, i) => set.labels![indices[i]]);
  if (set.files) out.files = Array.from({ length: indices.length }, (_, i) => set.files![indices[i]]);
  return out;
}

/** Keeps the classes listed and relabels them 0..k−1 in the order given (class names follow). */
export function subsetClasses(set: ImageSet, classes: number[]): ImageSet {
  if (!set.labels || !set.classNames) throw new AresError(`${set.name}: cannot select classes of an unlabelled set`, { exitCode: 2 });
  const k = set.classNames.length;
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c >= k) throw new AresError(`${set.name}: class ${c} does not exist (classes are 0..${k - 1})`, { exitCode: 2 });
  }
  const remap = new Int32Array(k).fill(-1);
  classes.forEach((c, i) => { remap[c] = i; });
  const keep: number[] = [];
  for (let i = 0; i < set.count; i++) if (remap[set.labels[i]] >= 0) keep.push(i);
  const out = selectIndices(set, keep);
  out.labels = out.labels!.map((y) => remap[y]);
  out.classNames = classes.map((c) => set.classNames![c]);
  return out;
}

/** The images whose labels are NOT in `classes`, unlabelled (the held-out classes of an open-set split). */
export function otherClasses(set: ImageSet, classes: number[], name: string): ImageSet {
  if (!set.labels) throw new AresError(`${set.name}: cannot select classes of an unlabelled set`, { exitCode: 2 });
  const keep: number[] = [];
  const held = new Set(classes); // not classes.includes per image: linear in images + classes
  for (let i = 0; i < set.count; i++) if (!held.has(set.labels[i])) keep.push(i);
  const out = selectIndices(set, keep, name);
  delete out.labels;
  delete out.classNames;
  return out;
}

/** A seeded random subset of at most `limit` images, kept in their original order. */
export function limitSet(set: ImageSet, limit: number, seed: number): ImageSet {
  if (!Number.isInteger(limit) || limit <= 0) throw new AresError(`limit must be a positive integer, got ${limit}`, { exitCode: 2 });
  if (set.count <= limit) return set;
  const pick = Rng.stream(seed, `data/limit:${set.name}`).permutation(set.count).subarray(0, limit).sort();
  return selectIndices(set, pick);
}

/** Resizes and converts channels so every image has `shape`. */
export function conformSet(set: ImageSet, shape: Shape, fit: ResizeFit = 'cover'): ImageSet {
  const [h, w, c] = set.shape;
  if (h === shape[0] && w === shape[1] && c === shape[2]) return set;
  let images = set.images;
  if (h !== shape[0] || w !== shape[1]) images = resizeImages(images, set.count, set.shape, [shape[0], shape[1]], fit);
  if (c !== shape[2]) images = convertChannels(images, set.count * shape[0] * shape[1], c, shape[2]);
  return { ...set, shape: [...shape], images };
}

/** grey → RGB repeats the value; RGB → grey uses ITU-R 601 luma (as PIL's "L" and sharp do). */
export function convertChannels(src: Float32Array, pixels: number, from: number, to: number): Float32Array {
  if (from === to) return src;
  const out = new Float32Array(pixels * to);
  if (from === 1 && to === 3) {
    for (let p = 0; p < pixels; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
  } else if (from === 3 && to === 1) {
    for (let p = 0; p < pixels; p++) out[p] = 0.299 * src[3 * p] + 0.587 * src[3 * p + 1] + 0.114 * src[3 * p + 2];
  } else {
    throw new AresError(`cannot convert images with ${from} channels to ${to}`);
  }
  return out;
}

/**
 * Bilinear resize with PIL-style antialiasing (the triangle filter widens when shrinking, so a
 * large reduction averages instead of aliasing). 'cover' scales the shorter side and crops the centre.
 */
export function resizeImages(src: Float32Array, count: number, [h, w, c]: Shape, [oh, ow]: [number, number], fit: ResizeFit): Float32Array {
  let sy = oh / h;
  let sx = ow / w;
  if (fit === 'cover') sy = sx = Math.max(sy, sx);
  const rows = axisWeights(h, oh, sy);
  const cols = axisWeights(w, ow, sx);
  const out = new Float32Array(count * oh * ow * c);
  const tmp = new Float32Array(h * ow * c);
  for (let n = 0; n < count; n++) {
    const img = src.subarray(n * h * w * c, (n + 1) * h * w * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < ow; x++) {
        const { start, weights } = cols[x];
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let t = 0; t < weights.length; t++) acc += weights[t] * img[(y * w + start + t) * c + ch];
          tmp[(y * ow + x) * c + ch] = acc;
        }
      }
    }
    const o = out.subarray(n * oh * ow * c, (n + 1) * oh * ow * c);
    for (let y = 0; y < oh; y++) {
      const { start, weights } = rows[y];
      for (let i = 0; i < ow * c; i++) {
        let acc = 0;
        for (let t = 0; t < weights.length; t++) acc += weights[t] * tmp[(start + t) * ow * c + i];
        // Normalised weights can overshoot 1 by an ulp; keep the [0, 1] contract exact.
        o[y * ow * c + i] = acc > 1 ? 1 : acc < 0 ? 0 : acc;
      }
    }
  }
  return out;
}

interface Tap { start: number; weights: Float32Array }

/** For each output index, the input indices it reads and their normalised weights. */
function axisWeights(inSize: number, outSize: number, scale: number): Tap[] {
  // Centre-aligned: the output window (outSize / scale input pixels) sits in the middle of the input.
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
