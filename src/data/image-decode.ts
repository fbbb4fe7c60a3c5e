import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { dataError } from './check.js';
import { convertChannels } from './transform.js';
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
  const greySource = header?.grey ?? false;
  const bands = c === 1 && greySource ? 1 : 3;
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let p = sharp(file, { failOn: 'warning' }).flatten({ background: '#000000' });
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
