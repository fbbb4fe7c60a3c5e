import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { formatBytes, openRegularFile } from '../util/read-file.js';
import { MAX_IMAGE_PIXELS, dataError } from './check.js';
import { convertChannels } from './transform.js';
import type { ResizeFit, Shape } from './types.js';

/** What an image file's header says, read without decoding the pixels. */
export interface ImageHeader {
  width: number;
  height: number;
  /** True for greyscale images (one band, with or without alpha). */
  grey: boolean;
}

/**
 * Largest image (width × height) decoded when it is resized to a requested shape: sharp's own default
 * limit (16383 × 16383). Resizing happens inside sharp, so only the small result becomes float32.
 */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;
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
  const pixels = meta.width * meta.height;
  if (!opts.resized && pixels > MAX_IMAGE_PIXELS) {
    throw dataError(file, `image is ${meta.width}×${meta.height} (${mpx(pixels)}); images read at their own size may have at most ${mpx(MAX_IMAGE_PIXELS)} `
      + `(${formatBytes(pixels * (grey ? 1 : 3) * 4)} as float32): give a shape to resize to (--shape HxWxC)`);
  }
  if (pixels > MAX_INPUT_PIXELS) {
    throw dataError(file, `image is ${meta.width}×${meta.height} (${mpx(pixels)}), more than the ${mpx(MAX_INPUT_PIXELS)} any image may have`);
  }
  return { width: meta.width, height: meta.height, grey };
}

/**
 * Decodes one image into [h, w, c] float32 values in [0, 1]: transparency flattened onto black,
 * resized when its size differs ('cover' = scale the shorter side and centre-crop, 'fill' = stretch),
 * converted to sRGB or grey. Colour → grey is ITU-R 601 luma (as PIL's convert('L') and
 * torchvision's Grayscale, and as convertChannels does in memory), not libvips' L*. A truncated or
 * corrupt body is an error, not a grey patch.
 */
export async function decodeImage(file: string, [h, w, c]: Shape, fit: ResizeFit = 'cover', header?: ImageHeader): Promise<Float32Array> {
  if (!header) await checkImageFile(file);
  if (h * w > MAX_IMAGE_PIXELS) throw dataError(file, `cannot decode to ${h}×${w}: more than the ${mpx(MAX_IMAGE_PIXELS)} an image may have in memory`);
  const greySource = header?.grey ?? false;
  const bands = c === 1 && greySource ? 1 : 3;
  let raw: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels: sharp refuses a larger image from its header, before decoding it.
    let p = sharp(file, { failOn: 'warning', limitInputPixels: MAX_INPUT_PIXELS }).flatten({ background: '#000000' });
    p = p.resize(w, h, { fit: fit === 'fill' ? 'fill' : 'cover', position: 'centre' });
    p = bands === 1 ? p.greyscale() : p.toColourspace('srgb');
    raw = await p.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw dataError(file, `cannot decode image (${reason(err)})`, err);
  }
  const { info, data } = raw;
  if (info.width !== w || info.height !== h || info.channels !== bands) {
    throw dataError(file, `decoded to ${info.height}×${info.width}×${info.channels}, expected ${h}×${w}×${bands}`);
  }
  const n = h * w * bands;
  const out = new Float32Array(n);
  if ((info as OutputInfo & { depth?: string }).depth === 'ushort') {
    const v = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n));
    for (let i = 0; i < n; i++) out[i] = v[i] / 65535;
  } else {
    for (let i = 0; i < n; i++) out[i] = data[i] / 255;
  }
  return bands === c ? out : convertChannels(out, h * w, bands, c);
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
