/**
 * Image files for `ares predict` (which to read; decoding itself is src/data's decodeImage, so
 * predict sees images exactly as training on an image folder did) and PNG encoding of sample images.
 */
import sharp from 'sharp';
import { lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { extname, join } from 'node:path';
import { AresError } from '../errors.js';
import { notRegularReason } from '../util/read-file.js';
import type { ImageBatch } from './types.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * Expands the command line's paths: a file is taken as is (it must decode, or predict names it);
 * a folder contributes its PNG/JPEG files (recursively, sorted, other files ignored). Links are
 * followed, each real folder once (a loop is not walked again), and the walk is iterative. Only
 * regular files are taken: a FIFO named x.png would block the decoder forever, and a dangling link
 * is named rather than left to fail later with a stack trace.
 */
export function listImageFiles(paths: string[]): string[] {
  const out: string[] = [];
  const visited = new Set<string>();
  const walk = (root: string) => {
    const stack = [root];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      const real = realpathSync(dir);
      if (visited.has(real)) continue;
      visited.add(real);
      const subdirs: string[] = [];
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        const st = statOrExplain(p);
        if (typeof st === 'string') {
          if (isImageName(name)) throw new AresError(st, { file: p });
          continue;
        }
        if (st.isDirectory()) subdirs.push(p);
        else if (isImageName(name)) out.push(regularOrThrow(p, st));
      }
      // Reverse onto the stack so sub-folders come out in sorted order (depth first, as before).
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
    }
  };
  for (const p of paths) {
    const st = statOrExplain(p);
    if (typeof st === 'string') throw new AresError(st, { file: p });
    if (st.isDirectory()) {
      const before = out.length;
      try {
        walk(p);
      } catch (err) {
        if (err instanceof AresError) throw err;
        throw new AresError(`cannot read folder: ${(err as Error).message}`, { file: p, cause: err });
      }
      if (out.length === before) throw new AresError('folder holds no PNG or JPEG images', { file: p });
    } else {
      out.push(regularOrThrow(p, st));
    }
  }
  return out;
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** stat (following links), or the reason in words when it fails. */
function statOrExplain(p: string): Stats | string {
  try {
    return statSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    let link = false;
    try { link = lstatSync(p).isSymbolicLink(); } catch { /* missing altogether */ }
    if (code === 'ENOENT') return link ? 'dangling symbolic link (its target does not exist)' : 'no such file or folder';
    if (code === 'ELOOP') return 'symbolic link loop';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    return `cannot read: ${(err as Error).message}`;
  }
}

function regularOrThrow(p: string, st: Stats): string {
  const notRegular = notRegularReason(st);
  if (notRegular) throw new AresError(`is ${notRegular}, not an image file`, { file: p });
  return p;
}

/** Image i of a batch as a PNG (8-bit, values clipped to [0, 1]). */
export async function encodePng(batch: ImageBatch, i: number): Promise<Buffer> {
  const [h, w, c] = batch.shape;
  const n = h * w * c;
  const px = new Uint8Array(n);
  for (let j = 0; j < n; j++) px[j] = Math.round(Math.min(1, Math.max(0, batch.images[i * n + j])) * 255);
  return sharp(px, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } }).png().toBuffer();
}

export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
}
