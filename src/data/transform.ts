import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { DEFAULT_RESIZE, toModelPixels } from './input-contract.js';
import type { ImageSet, ResizeFit, Shape } from './types.js';

// The resize and channel rules live in input-contract.ts, shared with the exported loader and page.
export { convertChannels, resizeImages } from './input-contract.js';

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

/** Resizes and converts channels so every image has `shape`: the input contract (toModelPixels), image by image. */
export function conformSet(set: ImageSet, shape: Shape, fit: ResizeFit = DEFAULT_RESIZE): ImageSet {
  const [h, w, c] = set.shape;
  if (h === shape[0] && w === shape[1] && c === shape[2]) return set;
  const per = h * w * c;
  const outPer = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(set.count * outPer);
  for (let n = 0; n < set.count; n++) {
    images.set(toModelPixels({ width: w, height: h, data: set.images.subarray(n * per, (n + 1) * per) }, shape, fit, set.name), n * outPer);
  }
  return { ...set, shape: [...shape], images };
}
