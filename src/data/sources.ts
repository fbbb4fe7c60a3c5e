import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { notRegularReason, openRegularFile } from '../util/read-file.js';
import { dataError, describeFsError, readText, statOrNull } from './check.js';
import { cifarFolderLayout, cifarVariantOf, loadCifarFiles, recordSize, type CifarVariant } from './cifar.js';
import { FASHION_MNIST_NAMES } from './class-names.js';
import { folderSplits, splitClassNames } from './folder-scan.js';
import { isDerivedKind, isGeneratedKind, type GeneratedKind } from './generated.js';
import { labelsFileFor, loadIdxPair } from './idx.js';
import { isMnistJsonFolder, mnistPackageDir } from './mnist-json.js';
import type { FolderOptions } from './image-folder.js';
import type { LoadOptions, Split } from './types.js';

/**
 * Resolves a source spec to where its data is and which format it is in, without reading pixels.
 * A spec is a built-in name (mnist, fashion-mnist, gaussian, uniform, blobs), a file or folder
 * path, either optionally followed by ":train" or ":test".
 */
export type SourceFormat = 'idx' | 'cifar10' | 'cifar100' | 'image-folder' | 'image-file' | 'mnist-json' | 'generated';

export type ResolvedSource =
  | { format: 'generated'; kind: GeneratedKind; base: string; split?: Split; splits: ['all'] }
  | { format: 'mnist-json'; base: string; path: string; split?: Split; splits: ['all'] }
  | { format: 'idx'; base: string; path: string; split?: Split; splits: SplitName[]; files: Record<string, { images: string; labels: string | null }>; classNames?: string[] }
  | { format: 'cifar10' | 'cifar100'; base: string; path: string; split?: Split; splits: SplitName[]; files: Record<string, string[]>; namesDir: string }
  | { format: 'image-folder'; base: string; path: string; split?: Split; splits: SplitName[]; dirs: Record<string, string>; classNames?: string[] }
  | { format: 'image-file'; base: string; path: string; split?: Split; splits: ['all'] };

export type SplitName = Split | 'all';

export const BUILTIN_SOURCES = ['mnist', 'fashion-mnist', 'gaussian', 'uniform', 'blobs'] as const;

export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** The Fashion-MNIST folder: $ARES_FASHION_MNIST_DIR, else the Debian package's location. */
export function fashionMnistDir(): string {
  return process.env.ARES_FASHION_MNIST_DIR || FASHION_MNIST_DEFAULT_DIR;
}

export async function resolveSource(spec: string): Promise<ResolvedSource> {
  if (!spec || typeof spec !== 'string') throw new AresError('no data source given', { exitCode: 2 });
  let base = spec;
  let split: Split | undefined;
  const m = /^(.*):(train|test)$/.exec(spec);
  if (m && !(await statOrNull(spec))) { base = m[1]; split = m[2] as Split; }
  if (isGeneratedKind(base)) return { format: 'generated', kind: base, base, split, splits: ['all'] };
  if (isDerivedKind(base)) {
    throw new AresError(`"${base}" is made from the ID validation split; it can only be a validation OOD set (valOod / --val-ood), never a test set or an ID source`, { exitCode: 2 });
  }
  if (base === 'mnist') return { format: 'mnist-json', base, path: mnistPackageDir(), split, splits: ['all'] };
  if (base === 'fashion-mnist') return resolveFashionMnist(split);
  const st = await statOrNull(base);
  if (!st) {
    throw new AresError(`data source "${base}" not found: not a built-in source (${BUILTIN_SOURCES.join(', ')}) and no such file or folder`);
  }
  if (st.isDirectory()) return resolveFolder(base, split);
  // A FIFO or a device would block or never end when read.
  const notRegular = notRegularReason(st);
  if (notRegular) throw dataError(base, `is ${notRegular}, not a regular file or a folder`);
  return resolveFile(base, split, st.size);
}

async function resolveFashionMnist(split?: Split): Promise<ResolvedSource> {
  const dir = fashionMnistDir();
  const hint = 'install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set ARES_FASHION_MNIST_DIR to a folder holding '
    + 'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz';
  const entries = await readdir(dir).catch(() => null);
  if (!entries) throw new AresError(`Fashion-MNIST is not installed (no folder ${dir}): ${hint}`);
  const files = idxLayout(dir, entries);
  if (!files.train || !files.test) throw new AresError(`Fashion-MNIST in ${dir} is incomplete (need the train and t10k image and label files): ${hint}`);
  return { format: 'idx', base: 'fashion-mnist', path: dir, split, splits: ['train', 'test'], files, classNames: [...FASHION_MNIST_NAMES] };
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    throw dataError(dir, `cannot read folder (${describeFsError(err)})`, err);
  }
}

async function resolveFolder(path: string, split?: Split): Promise<ResolvedSource> {
  const entries = await listNames(path);
  const cifar = cifarFolderLayout(entries);
  if (cifar) {
    const files: Record<string, string[]> = {};
    if (cifar.train.length) files.train = cifar.train.map((f) => join(path, f));
    if (cifar.test.length) files.test = cifar.test.map((f) => join(path, f));
    return { format: cifar.variant, base: path, path, split, splits: Object.keys(files) as Split[], files, namesDir: path };
  }
  const idx = idxLayout(path, entries);
  if (Object.keys(idx).length > 0) {
    return { format: 'idx', base: path, path, split, splits: Object.keys(idx) as Split[], files: idx, classNames: await readClassesTxt(path) };
  }
  if (isMnistJsonFolder(entries)) return { format: 'mnist-json', base: path, path, split, splits: ['all'] };
  const splits = await folderSplits(path);
  if (splits) {
    const dirs: Record<string, string> = {};
    if (splits.train) dirs.train = splits.train;
    if (splits.test) dirs.test = splits.test;
    return { format: 'image-folder', base: path, path, split, splits: Object.keys(dirs) as Split[], dirs, classNames: await splitClassNames(Object.values(dirs)) };
  }
  return { format: 'image-folder', base: path, path, split, splits: ['all'], dirs: { all: path } };
}

/** IDX image files per split: train-* → train, t10k-* / test-* → test; labels partner when present. */
function idxLayout(dir: string, entries: string[]): Record<string, { images: string; labels: string | null }> {
  const out: Record<string, { images: string; labels: string | null }> = {};
  for (const name of entries.filter((n) => /images[-.]idx3/.test(n)).sort()) {
    const split = /^train/.test(name) ? 'train' : /^(t10k|test)/.test(name) ? 'test' : null;
    if (!split || out[split]) continue;
    out[split] = { images: join(dir, name), labels: partnerLabels(dir, entries, name) };
  }
  return out;
}

function partnerLabels(dir: string, entries: string[], imagesName: string): string | null {
  const want = basename(labelsFileFor(join(dir, imagesName)) ?? '');
  const alt = want.endsWith('.gz') ? want.slice(0, -3) : `${want}.gz`;
  const found = [want, alt].find((n) => n && entries.includes(n));
  return found ? join(dir, found) : null;
}

/** Optional classes.txt (one name per line) next to IDX files. */
async function readClassesTxt(dir: string): Promise<string[] | undefined> {
  const f = join(dir, 'classes.txt');
  if (!(await statOrNull(f))?.isFile()) return undefined;
  const names = (await readText(f)).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw dataError(f, 'lists no class names');
  return names;
}

async function resolveFile(path: string, split: Split | undefined, size: number): Promise<ResolvedSource> {
  if (size === 0) throw dataError(path, 'file is empty');
  const head = await readHead(path, 4);
  const name = basename(path);
  const looksIdx = /idx\d/.test(name) || (head[0] === 0 && head[1] === 0) || (head[0] === 0x1f && head[1] === 0x8b);
  if (looksIdx && !name.endsWith('.bin')) {
    const labels = labelsFileFor(path);
    const entries = await listNames(dirname(path));
    const partner = labels ? partnerLabels(dirname(path), entries, name) : null;
    return { format: 'idx', base: path, path, split, splits: ['all'], files: { all: { images: path, labels: partner } }, classNames: await readClassesTxt(dirname(path)) };
  }
  if (name.endsWith('.bin')) {
    const variant: CifarVariant | null = cifarVariantOf(path, size);
    if (!variant) {
      throw dataError(path, `cannot read as a CIFAR batch: ${size} bytes is not a whole number of ${recordSize('cifar10')}-byte (CIFAR-10) or ${recordSize('cifar100')}-byte (CIFAR-100) records, or fits both; name it data_batch_<n>.bin / test_batch.bin (CIFAR-10) or train.bin / test.bin (CIFAR-100)`);
    }
    return { format: variant, base: path, path, split, splits: ['all'], files: { all: [path] }, namesDir: dirname(path) };
  }
  return { format: 'image-file', base: path, path, split, splits: ['all'] };
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  const { fh } = await openRegularFile(path, { maxBytes: Infinity, what: 'data file' });
  try {
    const buf = new Uint8Array(n);
    await fh.read(buf, 0, n, 0);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Which split a load gets: the spec's suffix, else the option, else train; 'all' for unsplit sources. */
export function chooseSplit(src: ResolvedSource, opts: LoadOptions): SplitName {
  if (src.splits[0] === 'all') return 'all';
  const want = src.split ?? opts.split ?? 'train';
  if (!(src.splits as SplitName[]).includes(want)) {
    throw dataError(src.base, `has no ${want} split (found: ${src.splits.join(', ')})`);
  }
  return want;
}

/** Loads the IDX or CIFAR files of one split into memory. */
export async function loadSplitFiles(src: ResolvedSource, split: SplitName, opts: LoadOptions) {
  const name = src.splits[0] === 'all' ? src.base : `${src.base}:${split}`;
  if (src.format === 'idx') {
    const f = src.files[split];
    const set = await loadIdxPair(f.images, f.labels, { name, classNames: src.classNames });
    return { ...set, split };
  }
  if (src.format === 'cifar10' || src.format === 'cifar100') {
    return loadCifarFiles(src.files[split], src.format, { name, split, labelKind: opts.cifar100Labels, namesDir: src.namesDir });
  }
  throw new AresError(`internal: ${src.format} is not a file format`);
}

/** Options for reading one split of an image folder. */
export function folderOptions(src: Extract<ResolvedSource, { format: 'image-folder' }>, split: SplitName, opts: LoadOptions): { dir: string; options: FolderOptions } {
  return {
    dir: src.dirs[split],
    options: {
      name: split === 'all' ? src.base : `${src.base}:${split}`, split, classNames: src.classNames, shape: opts.shape,
      fit: opts.fit, skipBad: opts.skipBad, classes: opts.classes, limit: opts.limit, seed: opts.seed,
    },
  };
}
