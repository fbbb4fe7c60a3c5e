import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { FolderReader } from './image-folder.js';
import { normalizeInPlace } from './normalize.js';
import type { ImageSet, Normalization, Shape } from './types.js';

/**
 * Seeded, resumable batching. The order of an epoch depends only on (seed, epoch), so a training
 * run killed after batch k restarts exactly with `startBatch: k + 1`. Batches are plain typed
 * arrays; the trainer makes tensors from them (tf.tensor4d(x, [size, h, w, c])).
 */
export interface BatchOptions {
  batchSize: number;
  /** Shuffle each epoch (default true); false keeps the set's order. */
  shuffle?: boolean;
  seed?: number;
  epoch?: number;
  /** Drop a last, smaller batch (default false). */
  dropLast?: boolean;
  /** Resume: the first batch index to yield (batches before it are skipped, not computed). */
  startBatch?: number;
  /** Applied to x in place after copying, so the set itself stays in [0, 1]. */
  normalization?: Normalization;
}

export interface Batch {
  /** size × H × W × C floats (NHWC). */
  x: Float32Array;
  /** Labels, or −1 for every image of an unlabelled set. */
  y: Int32Array;
  /** Positions of these images in the set. */
  indices: Int32Array;
  /** Index of this batch within the epoch. */
  batchIndex: number;
  size: number;
  shape: Shape;
}

/** The image order of one epoch: a permutation drawn from (seed, epoch), or the identity. */
export function epochOrder(count: number, opts: { shuffle?: boolean; seed?: number; epoch?: number } = {}): Int32Array {
  if (opts.shuffle === false) return Int32Array.from({ length: count }, (_, i) => i);
  return epochRng(opts.seed ?? 0, opts.epoch ?? 0).permutation(count);
}

/** The stream that orders one epoch's training images. */
export function epochRng(seed: number, epoch: number): Rng {
  return Rng.stream(seed, 'train/shuffle', epoch);
}

export function batchCount(count: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

function checkOptions(opts: BatchOptions): void {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize <= 0) throw new AresError(`batch size must be a positive integer, got ${opts.batchSize}`, { exitCode: 2 });
  const s = opts.startBatch ?? 0;
  if (!Number.isInteger(s) || s < 0) throw new AresError(`start batch must be a non-negative integer, got ${s}`, { exitCode: 2 });
}

/** Batches of an in-memory set. */
export function* batches(set: ImageSet, opts: BatchOptions): Generator<Batch> {
  checkOptions(opts);
  const { batchSize } = opts;
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  const order = epochOrder(set.count, opts);
  const n = batchCount(set.count, batchSize, opts.dropLast);
  for (let b = opts.startBatch ?? 0; b < n; b++) {
    const indices = order.slice(b * batchSize, Math.min(set.count, (b + 1) * batchSize));
    const size = indices.length;
    const x = new Float32Array(size * per);
    const y = new Int32Array(size).fill(-1);
    for (let i = 0; i < size; i++) {
      const j = indices[i];
      x.set(set.images.subarray(j * per, (j + 1) * per), i * per);
      if (set.labels) y[i] = set.labels[j];
    }
    if (opts.normalization) normalizeInPlace(x, set.shape[2], opts.normalization);
    yield { x, y, indices, batchIndex: b, size, shape: set.shape };
  }
}

/**
 * Batches of a streamed image folder with the same (seed, epoch) order and resume semantics; the
 * next batch decodes while the caller trains on the current one. With skipBad, a batch may come
 * out smaller than batchSize when a file fails to decode.
 */
export async function* folderBatches(reader: FolderReader, opts: BatchOptions): AsyncGenerator<Batch> {
  checkOptions(opts);
  const count = reader.files.length;
  const n = batchCount(count, opts.batchSize, opts.dropLast);
  const order = epochOrder(count, opts).subarray(0, n * opts.batchSize);
  let b = opts.startBatch ?? 0;
  for await (const fb of reader.batches(opts.batchSize, { order, start: b })) {
    if (opts.normalization) normalizeInPlace(fb.images, reader.shape[2], opts.normalization);
    const y = fb.labels ?? new Int32Array(fb.count).fill(-1);
    yield { x: fb.images, y, indices: fb.indices, batchIndex: b++, size: fb.count, shape: reader.shape };
  }
}
