/**
 * Image files for `ares predict` (which to read; decoding itself is src/data's decodeImage, so
 * predict sees images exactly as training on an image folder did) and PNG encoding of sample images.
 */
import sharp from 'sharp';
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { AresError } from '../errors.js';
import type { ImageBatch } from './types.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * Expands the command line's paths: a file is taken as is (it must decode, or predict names it);
 * a folder contributes its PNG/JPEG files (recursively, sorted, other files ignored).
 */
export function listImageFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new AresError('no such file or folder', { file: p });
    }
    if (st.isDirectory()) {
      const before = out.length;
      walk(p);
      if (out.length === before) throw new AresError('folder holds no PNG or JPEG images', { file: p });
    } else {
      out.push(p);
    }
  }
  return out;
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
