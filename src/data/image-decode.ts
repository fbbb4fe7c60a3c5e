import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { formatBytes, openRegularFile } from '../util/read-file.js';
import { MAX_IMAGE_PIXELS, dataError } from './check.js';
import { DEFAULT_RESIZE, toModelPixels, type PixelImage } from './input-contract.js';
import type { ResizeFit, Shape } from './types.js';

/** What an image file's header says, read without decoding the pixels. */
export interface ImageHeader {
  width: number;
  height: number;
  /** True for greyscale images (one band, with or without alpha). */
  grey: boolean;
}

/**
 * Largest image (width × height) decoded when it is resized to a requested shape (8192 × 8192).
 * Every surface decodes the image at full size and resizes it with the shared input contract, so
 * the 8- or 16-bit pixels of the whole image are in memory once (up to 256 MiB as RGBA);
 * the float32 result is only the requested shape.
 */
export const MAX_INPUT_PIXELS = 8192 * 8192;
/** Largest image file read (compressed size). */
export const MAX_IMAGE_FILE_BYTES = 1024 ** 3;

/** Opens and closes `file` to check it is a regular file of sane size, before sharp (which would block on a FIFO) reads it. */
async function checkImageFile(file: string): Promise<void> {
  const { fh } = await openRegularFile(file, { maxBytes: MAX_IMAGE_FILE_BYTES, what: 'image' });
  await fh.close();
}

function mpx(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} Mpx`;
}

/**
 * Reads an image's header with sharp (PNG, JPEG, WebP, GIF, TIFF, AVIF); AresError naming the file
 * otherwise. The header's size is checked against the pixel caps before any pixel is decoded: with
 * `resized` false (no shape asked for: the image becomes float32 at its own size) at most
 * MAX_IMAGE_PIXELS, else at most MAX_INPUT_PIXELS.
 */
export async function probeImage(file: string, opts: { resized?: boolean } = {}): Promise<ImageHeader> {
  await checkImageFile(file);
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
  const pixels = width * height;
  if (!opts.resized && pixels > MAX_IMAGE_PIXELS) {
    throw dataError(file, `image is ${width}×${height} (${mpx(pixels)}); images read at their own size may have at most ${mpx(MAX_IMAGE_PIXELS)} `
      + `(${formatBytes(pixels * (grey ? 1 : 3) * 4)} as float32): give a shape to resize to (--shape HxWxC)`);
  }
  if (pixels > MAX_INPUT_PIXELS) {
    throw dataError(file, `image is ${width}×${height} (${mpx(pixels)}), more than the ${mpx(MAX_INPUT_PIXELS)} any image may have (scale it down first)`);
  }
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
  if (shape[0] * shape[1] > MAX_IMAGE_PIXELS) throw dataError(file, `cannot decode to ${shape[0]}×${shape[1]}: more than the ${mpx(MAX_IMAGE_PIXELS)} an image may have in memory`);
  return toModelPixels(await decodePixels(file, header), shape, fit, file);
}

/** The image's own pixels, oriented as its EXIF says: 8-bit (or 16-bit) sRGB or grey, alpha kept. */
export async function decodePixels(file: string, header?: ImageHeader): Promise<PixelImage> {
  if (!header) await checkImageFile(file);
  let raw: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels: sharp refuses a larger image from its header, before decoding it.
    const p = sharp(file, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS }).autoOrient();
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
