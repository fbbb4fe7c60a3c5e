import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { dataError } from './check.js';
import { DEFAULT_RESIZE, toModelPixels, type PixelImage } from './input-contract.js';
import type { ResizeFit, Shape } from './types.js';

/** What an image file's header says, read without decoding the pixels. */
export interface ImageHeader {
  width: number;
  height: number;
  /** True for greyscale images (one band, with or without alpha). */
  grey: boolean;
}

/** Reads an image's header with sharp (PNG, JPEG, WebP, GIF, TIFF, AVIF); AresError naming the file otherwise. */
export async function probeImage(file: string): Promise<ImageHeader> {
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (err) {
    throw dataError(file, `not a readable image (${reason(err)})`, err);
  }
  if (!meta.width || !meta.height) throw dataError(file, 'not a readable image (no width/height in its header)');
  const grey = meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2;
  // The size as decodeImage delivers it: EXIF orientations 5–8 swap width and height.
  const { width, height } = meta.autoOrient ?? meta;
  return { width, height, grey };
}

/**
 * Decodes one image into [h, w, c] float32 values in [0, 1] by the input contract
 * (src/data/input-contract.ts, the same code the exported loader and page run): EXIF orientation
 * applied (as browsers do), decoded at full size as sRGB or grey with any alpha, then alpha
 * composited onto black, resized by `fit` (crop, stretch or pad) and converted grey↔RGB by
 * ITU-R 601 luma. A truncated or corrupt body is an error, not a grey patch.
 */
export async function decodeImage(file: string, shape: Shape, fit: ResizeFit = DEFAULT_RESIZE, header?: ImageHeader): Promise<Float32Array> {
  return toModelPixels(await decodePixels(file, header), shape, fit, file);
}

/** The image's own pixels, oriented as its EXIF says: 8-bit (or 16-bit) sRGB or grey, alpha kept. */
export async function decodePixels(file: string, header?: ImageHeader): Promise<PixelImage> {
  let raw: { data: Buffer; info: OutputInfo };
  try {
    const p = sharp(file, { failOn: 'warning' }).autoOrient();
    raw = await (header?.grey ? p.toColourspace('b-w') : p.toColourspace('srgb')).raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw dataError(file, `cannot decode image (${reason(err)})`, err);
  }
  const { info, data } = raw;
  const n = info.width * info.height * info.channels;
  const pixels = (info as OutputInfo & { depth?: string }).depth === 'ushort'
    ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n))
    : new Uint8Array(data.buffer, data.byteOffset, n);
  return { width: info.width, height: info.height, data: pixels };
}

function reason(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
