import { basename, join } from 'node:path';
import { formatBytes, openRegularFile } from '../util/read-file.js';
import { MAX_DATA_FILE_BYTES, checkLabels, dataError, readBytes, readText, statOrNull } from './check.js';
import { CIFAR100_COARSE_NAMES, CIFAR100_FINE_NAMES, CIFAR10_NAMES } from './class-names.js';
import type { ImageSet, Split } from './types.js';

/**
 * CIFAR binary batches as published: each record is the label byte (CIFAR-10) or the coarse then
 * fine label bytes (CIFAR-100), then 3072 pixel bytes — the 1024 red values of the 32×32 image in
 * row-major order, then the 1024 green, then the 1024 blue.
 */
export type CifarVariant = 'cifar10' | 'cifar100';

const PIXELS = 32 * 32;
export const recordSize = (v: CifarVariant): number => (v === 'cifar10' ? 1 : 2) + 3 * PIXELS;

export interface CifarBatch {
  count: number;
  /** NHWC float32 in [0, 1], shape [32, 32, 3]. */
  images: Float32Array;
  /** CIFAR-10's label, or CIFAR-100's fine label. */
  labels: Int32Array;
  /** CIFAR-100 only. */
  coarse?: Int32Array;
}

/** Decodes one batch file's bytes; checks the record size and the label range. */
export function parseCifar(bytes: Uint8Array, file: string, variant: CifarVariant): CifarBatch {
  const rec = recordSize(variant);
  if (bytes.length === 0) throw dataError(file, 'file is empty');
  if (bytes.length % rec !== 0) {
    throw dataError(file, `truncated or corrupt ${label(variant)} batch: ${bytes.length} bytes is not a whole number of ${rec}-byte records (${Math.floor(bytes.length / rec)} records and ${bytes.length % rec} bytes left over)`);
  }
  const count = bytes.length / rec;
  const head = variant === 'cifar10' ? 1 : 2;
  const images = new Float32Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  const coarse = variant === 'cifar100' ? new Int32Array(count) : undefined;
  for (let n = 0; n < count; n++) {
    const base = n * rec;
    if (coarse) { coarse[n] = bytes[base]; labels[n] = bytes[base + 1]; } else labels[n] = bytes[base];
    const px = base + head;
    const out = n * 3 * PIXELS;
    // Planes R, G, B → interleaved HWC.
    for (let p = 0; p < PIXELS; p++) {
      images[out + 3 * p] = bytes[px + p] / 255;
      images[out + 3 * p + 1] = bytes[px + PIXELS + p] / 255;
      images[out + 3 * p + 2] = bytes[px + 2 * PIXELS + p] / 255;
    }
  }
  if (coarse) {
    checkLabels(coarse, 20, `${file} (coarse labels)`);
    checkLabels(labels, 100, `${file} (fine labels)`);
  } else {
    checkLabels(labels, 10, file);
  }
  return { count, images, labels, coarse };
}

/** Which variant a batch file is, from its published name, else from its size. */
export function cifarVariantOf(file: string, size: number): CifarVariant | null {
  const name = basename(file);
  if (/^(data_batch_\d+|test_batch)\.bin$/.test(name)) return 'cifar10';
  if (/^(train|test)\.bin$/.test(name)) return 'cifar100';
  const by10 = size > 0 && size % recordSize('cifar10') === 0;
  const by100 = size > 0 && size % recordSize('cifar100') === 0;
  if (by10 !== by100) return by10 ? 'cifar10' : 'cifar100';
  return null;
}

/** The batch files of a CIFAR folder per split, or null when the folder is not one. */
export function cifarFolderLayout(entries: string[]): { variant: CifarVariant; train: string[]; test: string[] } | null {
  const c10train = entries.filter((e) => /^data_batch_\d+\.bin$/.test(e)).sort(byNumber);
  if (c10train.length > 0 || entries.includes('test_batch.bin')) {
    return { variant: 'cifar10', train: c10train, test: entries.includes('test_batch.bin') ? ['test_batch.bin'] : [] };
  }
  if (entries.includes('train.bin') || entries.includes('test.bin')) {
    return { variant: 'cifar100', train: entries.includes('train.bin') ? ['train.bin'] : [], test: entries.includes('test.bin') ? ['test.bin'] : [] };
  }
  return null;
}

/**
 * Most bytes of decoded images one CIFAR source may hold: 4 GiB of float32 (1.4 million 32×32×3
 * images; the published sets have 60,000).
 */
export const MAX_CIFAR_FLOAT_BYTES = 4 * 1024 ** 3;

/**
 * Every batch file's size, checked before anything is read or allocated: a regular file, a whole
 * number of records, at most MAX_DATA_FILE_BYTES, and all of them together within MAX_CIFAR_FLOAT_BYTES
 * once decoded.
 */
export async function cifarFileSizes(files: string[], variant: CifarVariant): Promise<number[]> {
  const rec = recordSize(variant);
  const sizes: number[] = [];
  for (const f of files) {
    const { fh, size } = await openRegularFile(f, { maxBytes: MAX_DATA_FILE_BYTES, what: `${label(variant)} batch` });
    await fh.close();
    if (size === 0) throw dataError(f, 'file is empty');
    if (size % rec !== 0) {
      throw dataError(f, `truncated or corrupt ${label(variant)} batch: ${size} bytes is not a whole number of ${rec}-byte records (${Math.floor(size / rec)} records and ${size % rec} bytes left over)`);
    }
    sizes.push(size);
  }
  const floatBytes = sizes.reduce((s, n) => s + n / rec, 0) * 3 * PIXELS * 4;
  if (floatBytes > MAX_CIFAR_FLOAT_BYTES) {
    throw dataError(files[0], `${files.length} ${label(variant)} batch file(s) hold images that need ${formatBytes(floatBytes)} as float32, more than the ${formatBytes(MAX_CIFAR_FLOAT_BYTES)} allowed`);
  }
  return sizes;
}

/** Reads batch files into one labelled ImageSet (sizes checked first; one batch's bytes held at a time). */
export async function loadCifarFiles(
  files: string[],
  variant: CifarVariant,
  opts: { name: string; split: Split | 'all'; labelKind?: 'fine' | 'coarse'; namesDir?: string },
): Promise<ImageSet> {
  const sizes = await cifarFileSizes(files, variant);
  const rec = recordSize(variant);
  const count = sizes.reduce((s, n) => s + n / rec, 0);
  const images = new Float32Array(count * 3 * PIXELS);
  const labels = new Int32Array(count);
  const coarse = opts.labelKind === 'coarse';
  let at = 0;
  for (let i = 0; i < files.length; i++) {
    // The size checked above is the most read: a file that grew since is refused, not read further.
    const b = parseCifar(await readBytes(files[i], sizes[i]), files[i], variant);
    images.set(b.images, at * 3 * PIXELS);
    labels.set(coarse && b.coarse ? b.coarse : b.labels, at);
    at += b.count;
  }
  if (at !== count) throw dataError(files[0], `${label(variant)} batch files changed while being read`);
  const classNames = await cifarClassNames(variant, opts.labelKind ?? 'fine', opts.namesDir);
  return { name: opts.name, shape: [32, 32, 3], count, images, labels, classNames, split: opts.split };
}

/** Names from batches.meta.txt / fine_label_names.txt / coarse_label_names.txt when present. */
export async function cifarClassNames(variant: CifarVariant, kind: 'fine' | 'coarse', dir?: string): Promise<string[]> {
  const [file, fallback] = variant === 'cifar10'
    ? ['batches.meta.txt', CIFAR10_NAMES]
    : kind === 'coarse' ? ['coarse_label_names.txt', CIFAR100_COARSE_NAMES] : ['fine_label_names.txt', CIFAR100_FINE_NAMES];
  if (!dir) return fallback;
  const path = join(dir, file);
  if (!(await statOrNull(path))?.isFile()) return fallback;
  const names = (await readText(path)).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (names.length !== fallback.length) {
    throw dataError(path, `lists ${names.length} class names, expected ${fallback.length} for ${label(variant)}${variant === 'cifar100' ? ` ${kind} labels` : ''}`);
  }
  return names;
}

function label(v: CifarVariant): string {
  return v === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100';
}

function byNumber(a: string, b: string): number {
  return Number(/\d+/.exec(a)?.[0]) - Number(/\d+/.exec(b)?.[0]);
}
