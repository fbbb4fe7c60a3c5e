import { AresError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { dataError, formatShape } from './check.js';
import { scanImageFolder, type FolderScan } from './folder-scan.js';
import { decodeImage, mapLimit, probeImage, type ImageHeader } from './image-decode.js';
import { DEFAULT_RESIZE } from './input-contract.js';
import type { ImageSet, ResizeFit, Shape, SkippedFile, Split } from './types.js';

/**
 * Image folders are read in two passes: headers first (cheap: counts, sizes, colour, unreadable
 * files found before any pixel is decoded), then pixels, batch by batch, with the next batch
 * decoding while the caller works on the current one. Large folders are streamed this way; sets
 * that fit are collected into an ImageSet by loadImageFolder.
 */
export interface FolderOptions {
  name?: string;
  split?: Split | 'all';
  /** Fixes the label order (split layouts share one class list). */
  classNames?: string[];
  shape?: Shape;
  fit?: ResizeFit;
  skipBad?: boolean;
  classes?: number[];
  limit?: number;
  seed?: number;
  /**
   * Files decoded at once. Default: a whole batch is handed to sharp in one go, so libuv's thread
   * pool keeps decoding the prefetched batch even while a synchronous training step blocks the
   * main thread (with a small limit, each next file would wait for the main thread to dispatch it).
   */
  concurrency?: number;
}

export interface FolderBatch {
  /** count × H × W × C floats in [0, 1]. */
  images: Float32Array;
  labels?: Int32Array;
  files: string[];
  /** Positions of these images in the reader's `files`. */
  indices: Int32Array;
  count: number;
}

export interface FolderReader {
  name: string;
  root: string;
  split: Split | 'all';
  shape: Shape;
  /** Readable images after the header pass (decoding may still skip some with skipBad). */
  files: string[];
  labels?: Int32Array;
  classNames?: string[];
  /** Files left out so far (header pass, then decoding), with reasons. */
  skipped: SkippedFile[];
  /** Decoded batches in `order` (default: file order), starting at batch `start`. */
  batches(batchSize: number, opts?: { order?: ArrayLike<number>; start?: number }): AsyncGenerator<FolderBatch>;
}

export async function openImageFolder(root: string, opts: FolderOptions = {}): Promise<FolderReader> {
  let scan = await scanImageFolder(root, opts.classNames);
  if (opts.classes) scan = selectClasses(scan, opts.classes);
  if (opts.limit !== undefined) scan = limitFiles(scan, opts.limit, opts.seed ?? 0);
  const skipped: SkippedFile[] = [];
  const headers = await mapLimit(scan.files, opts.concurrency ?? 16, (f) => probeImage(f, { resized: opts.shape !== undefined }).catch((err: AresError) => {
    if (!opts.skipBad) throw err;
    skipped.push({ file: f, reason: err.message });
    return null;
  }));
  const keep = headers.map((h, i) => (h ? i : -1)).filter((i) => i >= 0);
  if (keep.length === 0) throw dataError(root, `folder has no readable images (${skipped.length} skipped)`);
  const files = keep.map((i) => scan.files[i]);
  const fileHeaders = keep.map((i) => headers[i]!);
  const labels = scan.labels ? Int32Array.from(keep, (i) => scan.labels![i]) : undefined;
  const shape = opts.shape ?? commonShape(keep.map((i) => headers[i]!), files);
  const fit = opts.fit ?? DEFAULT_RESIZE;
  const split = opts.split ?? 'all';
  const name = opts.name ?? root;

  async function decodeBatch(idx: number[]): Promise<FolderBatch> {
    const per = shape[0] * shape[1] * shape[2];
    const decoded = await mapLimit(idx, opts.concurrency ?? idx.length, (i) => decodeImage(files[i], shape, fit, fileHeaders[i]).catch((err: AresError) => {
      if (!opts.skipBad) throw err;
      skipped.push({ file: files[i], reason: err.message });
      return null;
    }));
    const ok = idx.filter((_, k) => decoded[k] !== null);
    const images = new Float32Array(ok.length * per);
    let at = 0;
    decoded.forEach((d) => { if (d) { images.set(d, at * per); at++; } });
    return {
      images, count: ok.length, indices: Int32Array.from(ok), files: ok.map((i) => files[i]),
      labels: labels ? Int32Array.from(ok, (i) => labels[i]) : undefined,
    };
  }

  async function* batches(batchSize: number, o: { order?: ArrayLike<number>; start?: number } = {}): AsyncGenerator<FolderBatch> {
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new AresError(`batch size must be a positive integer, got ${batchSize}`);
    const order = o.order ? Array.from(o.order) : files.map((_, i) => i);
    const starts: number[] = [];
    for (let s = (o.start ?? 0) * batchSize; s < order.length; s += batchSize) starts.push(s);
    // Prefetch: batch k+1 decodes while the caller consumes batch k.
    let pending = starts.length > 0 ? decodeBatch(order.slice(starts[0], starts[0] + batchSize)) : null;
    for (let k = 0; k < starts.length; k++) {
      const current = await pending!;
      pending = k + 1 < starts.length ? decodeBatch(order.slice(starts[k + 1], starts[k + 1] + batchSize)) : null;
      // Keep a failed prefetch from surfacing as an unhandled rejection if the caller stops early.
      pending?.catch(() => undefined);
      yield current;
    }
  }

  return { name, root, split, shape, files, labels, classNames: scan.classNames ? classNamesAfter(scan, opts) : undefined, skipped, batches };
}

/** Loads a whole folder into memory; refuses sets larger than `maxBytes` (default 4 GiB). */
export async function loadImageFolder(root: string, opts: FolderOptions & { maxBytes?: number } = {}): Promise<ImageSet> {
  const reader = await openImageFolder(root, opts);
  const per = reader.shape[0] * reader.shape[1] * reader.shape[2];
  const bytes = reader.files.length * per * 4;
  const max = opts.maxBytes ?? 4 * 1024 ** 3;
  if (bytes > max) {
    throw dataError(root, `${reader.files.length} images of ${formatShape(reader.shape)} need ${(bytes / 1024 ** 3).toFixed(1)} GiB as float32, more than the ${(max / 1024 ** 3).toFixed(1)} GiB allowed: use --limit N or the streaming reader (openImageFolder)`);
  }
  const images = new Float32Array(reader.files.length * per);
  const kept: number[] = [];
  for await (const b of reader.batches(batchSizeFor(reader.shape, 64))) {
    images.set(b.images, kept.length * per);
    kept.push(...b.indices);
  }
  const set: ImageSet = {
    name: reader.name, shape: reader.shape, count: kept.length, images: images.subarray(0, kept.length * per),
    files: kept.map((i) => reader.files[i]), split: reader.split, skipped: reader.skipped,
  };
  if (reader.labels) { set.labels = Int32Array.from(kept, (i) => reader.labels![i]); set.classNames = reader.classNames; }
  return set;
}

/**
 * Images per decoded batch so that one batch stays near 64 MiB of float32 (at least 1, at most
 * `max`): a batch of 256 images at the 4096×4096 cap would otherwise be 48 GiB.
 */
export function batchSizeFor(shape: Shape, max: number): number {
  const perImage = shape[0] * shape[1] * shape[2] * 4;
  return Math.max(1, Math.min(max, Math.floor((64 * 1024 ** 2) / perImage)));
}

/** Without a requested shape every image must have the same size; colour if any image has colour. */
function commonShape(headers: ImageHeader[], files: string[]): Shape {
  const first = headers[0];
  for (let i = 1; i < headers.length; i++) {
    const h = headers[i];
    if (h.width !== first.width || h.height !== first.height) {
      throw dataError(files[i], `images have different sizes (${files[0]} is ${first.height}×${first.width}, this one is ${h.height}×${h.width}); give a shape to resize them to (--shape HxWxC)`);
    }
  }
  return [first.height, first.width, headers.some((h) => !h.grey) ? 3 : 1];
}

function selectClasses(scan: FolderScan, classes: number[]): FolderScan {
  if (!scan.labels || !scan.classNames) throw dataError(scan.root, 'cannot select classes: the folder has no class sub-folders');
  const k = scan.classNames.length;
  const bad = classes.find((c) => !Number.isInteger(c) || c < 0 || c >= k);
  if (bad !== undefined) throw new AresError(`${scan.root}: class ${bad} does not exist (classes are 0..${k - 1})`, { exitCode: 2 });
  const files: string[] = [];
  const labels: number[] = [];
  // A lookup table, not classes.indexOf per file: linear in files + classes.
  const remap = new Int32Array(k).fill(-1);
  classes.forEach((c, j) => { if (remap[c] < 0) remap[c] = j; });
  scan.files.forEach((f, i) => {
    const j = remap[scan.labels![i]];
    if (j >= 0) { files.push(f); labels.push(j); }
  });
  if (files.length === 0) throw dataError(scan.root, `no images in classes ${classes.join(', ')}`);
  return { root: scan.root, files, labels: Int32Array.from(labels), classNames: scan.classNames };
}

function classNamesAfter(scan: FolderScan, opts: FolderOptions): string[] {
  return opts.classes ? opts.classes.map((c) => scan.classNames![c]) : scan.classNames!;
}

/** A seeded random subset of the file list, in file order, before anything is decoded. */
function limitFiles(scan: FolderScan, limit: number, seed: number): FolderScan {
  if (!Number.isInteger(limit) || limit <= 0) throw new AresError(`limit must be a positive integer, got ${limit}`, { exitCode: 2 });
  if (scan.files.length <= limit) return scan;
  const pick = Rng.stream(seed, 'data/limit-files').permutation(scan.files.length).subarray(0, limit).sort();
  return { ...scan, files: Array.from(pick, (i) => scan.files[i]), labels: scan.labels ? Int32Array.from(pick, (i) => scan.labels![i]) : undefined };
}
