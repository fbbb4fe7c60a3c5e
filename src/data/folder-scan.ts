import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dataError, describeFsError } from './check.js';

/**
 * Folder layouts (as torchvision's ImageFolder and the usual OOD sets):
 * - class sub-folders: root/<class>/**\/<image>, classes sorted by name, labels = their index;
 * - flat: root/<image> — unlabelled, the usual form of Textures, LSUN-C, iSUN, Places365 samples;
 * - split: root/train/… and root/test/…, each one of the above.
 * Hidden entries (".DS_Store", ".git") are ignored; every other file must be an image.
 * Symbolic links are followed (datasets often link images and class folders in), but each real
 * folder is walked once: a link back to a folder above is not entered again, so a loop neither
 * counts an image many times nor recurses without end. An entry that cannot be stat'ed (a dangling
 * link, a link loop) is listed as a file, so reading it names the problem (or --skip-bad counts it).
 */
export interface FolderScan {
  root: string;
  files: string[];
  /** Present when the folder has class sub-folders. */
  labels?: Int32Array;
  classNames?: string[];
}

interface Entries { files: string[]; dirs: string[] }

async function listDir(dir: string): Promise<Entries> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw dataError(dir, `cannot read folder (${describeFsError(err)})`, err);
  }
  const out: Entries = { files: [], dirs: [] };
  for (const name of names.filter((n) => !n.startsWith('.')).sort(byCodePoint)) {
    // stat (not lstat) so symlinked images and class folders are followed, as datasets often use them;
    // a failed stat (dangling link, ELOOP) leaves the entry a "file" for the image reader to name.
    const st = await stat(join(dir, name)).catch(() => null);
    if (st?.isDirectory()) out.dirs.push(name);
    else out.files.push(name);
  }
  return out;
}

/** The split sub-folders ("train", "test") when the folder is laid out by split, else null. */
export async function folderSplits(root: string): Promise<{ train?: string; test?: string } | null> {
  const { files, dirs } = await listDir(root);
  if (files.length > 0 || dirs.length === 0 || !dirs.every((d) => d === 'train' || d === 'test')) return null;
  return { train: dirs.includes('train') ? join(root, 'train') : undefined, test: dirs.includes('test') ? join(root, 'test') : undefined };
}

/** Class names of a split-layout folder: the union over its splits, so labels agree between them. */
export async function splitClassNames(splitDirs: string[]): Promise<string[] | undefined> {
  const names = new Set<string>();
  let labelled = false;
  for (const d of splitDirs) {
    const { dirs } = await listDir(d);
    if (dirs.length > 0) labelled = true;
    for (const n of dirs) names.add(n);
  }
  return labelled ? [...names].sort(byCodePoint) : undefined;
}

/** Lists a folder's images (and labels); `classNames` fixes the label order for split layouts. */
export async function scanImageFolder(root: string, classNames?: string[]): Promise<FolderScan> {
  const { files, dirs } = await listDir(root);
  if (files.length === 0 && dirs.length === 0) throw dataError(root, 'folder has no images (it is empty)');
  if (files.length > 0 && dirs.length > 0) {
    throw dataError(root, `folder mixes image files (${files[0]}, …) and sub-folders (${dirs[0]}, …): put images either in one sub-folder per class or all directly in the folder`);
  }
  if (dirs.length === 0) return { root, files: files.map((f) => join(root, f)) };
  const names = classNames ?? dirs;
  const visited = new Set<string>([await realDir(root)]);
  const all: string[] = [];
  const labels: number[] = [];
  for (const cls of dirs) {
    const y = names.indexOf(cls);
    if (y < 0) throw dataError(join(root, cls), `class folder "${cls}" is not among the classes ${names.join(', ')}`);
    const inClass = await walkFiles(join(root, cls), visited);
    if (inClass.length === 0) throw dataError(join(root, cls), `class folder "${cls}" has no images`);
    for (const f of inClass) { all.push(f); labels.push(y); }
  }
  return { root, files: all, labels: Int32Array.from(labels), classNames: [...names] };
}

/**
 * Every file under `dir`, depth first in sorted order (a folder's files, then each sub-folder's).
 * Iterative, and a real folder already in `visited` is skipped, so links cannot make it loop.
 */
async function walkFiles(dir: string, visited: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    const real = await realDir(d);
    if (visited.has(real)) continue;
    visited.add(real);
    const { files, dirs } = await listDir(d);
    for (const f of files) out.push(join(d, f));
    for (let i = dirs.length - 1; i >= 0; i--) stack.push(join(d, dirs[i]));
  }
  return out;
}

async function realDir(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch (err) {
    throw dataError(dir, `cannot read folder (${describeFsError(err)})`, err);
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
