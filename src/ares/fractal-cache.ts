/**
 * The fractal bank's disk cache: built once per (shape, count, seed, generator version) and read
 * back on later runs. File layout (little-endian):
 *   0  8 bytes  magic "ARESFRAC"
 *   8  u32 ×6   generator version, height, width, channels, count, seed
 *  32  u32      FNV-1a checksum of the pixel bytes
 *  36  count·H·W·C bytes, pixel values ×255 (the generator quantises to 256 levels, so exact)
 * A file that is short, long, from another generator or fails its checksum is rebuilt.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AresError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  FRACTAL_GENERATOR_VERSION, generateFractalBank, type FractalBank, type Shape3,
} from './fractals.js';

const MAGIC = 'ARESFRAC';
const HEADER_BYTES = 36;

export interface LoadedFractalBank {
  bank: FractalBank;
  path: string;
  /** `cache`: read back; `built`: no cache file yet; `rebuilt`: the file was unusable (see `reason`). */
  source: 'cache' | 'built' | 'rebuilt';
  reason?: string;
  ms: number;
}

/** ARES_CACHE when set, else ~/.cache/ares-ood. */
export function defaultCacheDir(): string {
  const env = process.env.ARES_CACHE?.trim();
  return env ? env : join(homedir(), '.cache', 'ares-ood');
}

export function fractalCachePath(dir: string, shape: Shape3, count: number, seed: number): string {
  // The generator version is in the name so runs of two versions sharing a cache do not rebuild each other's file.
  return join(dir, `fractals-v${FRACTAL_GENERATOR_VERSION}-${shape[0]}x${shape[1]}x${shape[2]}-${count}-${seed}.bin`);
}

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h >>> 0;
}

export function encodeFractalBank(bank: FractalBank, seed: number): Uint8Array {
  const n = bank.images.length;
  const out = new Uint8Array(HEADER_BYTES + n);
  const pixels = out.subarray(HEADER_BYTES);
  for (let i = 0; i < n; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, bank.images[i])) * 255);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  [FRACTAL_GENERATOR_VERSION, bank.shape[0], bank.shape[1], bank.shape[2], bank.count, seed]
    .forEach((v, i) => view.setUint32(8 + 4 * i, v >>> 0, true));
  view.setUint32(32, fnv1a(pixels), true);
  return out;
}

/** The bank in `bytes`, or the reason it cannot be used for (shape, count, seed). */
export function decodeFractalBank(bytes: Uint8Array, shape: Shape3, count: number, seed: number): FractalBank | string {
  const expected = HEADER_BYTES + shape[0] * shape[1] * shape[2] * count;
  if (bytes.length !== expected) return `size ${bytes.length} bytes, expected ${expected}`;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return 'bad magic (not a fractal bank)';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = [0, 1, 2, 3, 4, 5].map((i) => view.getUint32(8 + 4 * i, true));
  const want = [FRACTAL_GENERATOR_VERSION, shape[0], shape[1], shape[2], count, seed >>> 0];
  if (header.some((v, i) => v !== want[i])) return `header [${header.join(', ')}] does not match [${want.join(', ')}]`;
  const pixels = bytes.subarray(HEADER_BYTES);
  if (fnv1a(pixels) !== view.getUint32(32, true)) return 'checksum mismatch (corrupt file)';
  const images = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) images[i] = pixels[i] / 255;
  return { name: `fractals:${seed}`, shape: [...shape], count, images };
}

/**
 * The fractal bank for (shape, count, seed): read from the cache when a valid file is there,
 * otherwise generated (default FractalOptions, which the version number stands for) and written
 * atomically. A failed cache write is not fatal (the bank is
 * still returned) because the cache is only a speed-up.
 */
export function loadFractalBank(
  shape: Shape3, count: number, seed: number,
  opts: { cacheDir?: string } = {},
): LoadedFractalBank {
  const t0 = performance.now();
  const path = fractalCachePath(opts.cacheDir ?? defaultCacheDir(), shape, count, seed);
  let reason: string | undefined;
  if (existsSync(path)) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      reason = `unreadable: ${(err as Error).message}`;
    }
    if (bytes) {
      const decoded = decodeFractalBank(bytes, shape, count, seed);
      if (typeof decoded !== 'string') return { bank: decoded, path, source: 'cache', ms: performance.now() - t0 };
      reason = decoded;
    }
  }
  const bank = generateFractalBank(shape, count, seed);
  try {
    writeFileAtomic(path, encodeFractalBank(bank, seed));
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    process.emitWarning(new AresError(`could not write the fractal cache (${err.message}); continuing without it`, { file: path }).message);
  }
  return { bank, path, source: reason ? 'rebuilt' : 'built', reason, ms: performance.now() - t0 };
}
