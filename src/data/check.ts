import { gunzip, createGunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AresError } from '../errors.js';
import { formatBytes, openRegularFile, readOpened, readRegularFile } from '../util/read-file.js';
import type { Shape } from './types.js';

const gunzipAsync = promisify(gunzip);

/**
 * Caps on what one data input may make the process hold (documented in src/data/README.md). They
 * sit far above every published dataset (Fashion-MNIST train: 47 MB of IDX data, 10 classes; CIFAR-100
 * train: 150 MB) and far below what would exhaust a machine, so a hostile header or a gzip bomb gets
 * a named error before the allocation instead of an out-of-memory crash.
 */
export const MAX_DATA_FILE_BYTES = 1024 ** 3;
/** Most classes a label file or a class list may name (labels 0..MAX_CLASSES-1). */
export const MAX_CLASSES = 100_000;
/**
 * Most pixels (height × width) an image may have once it is float32 in memory: 4096 × 4096, i.e.
 * 192 MiB for RGB. Larger images are read only when a shape resizes them (inside sharp).
 */
export const MAX_IMAGE_PIXELS = 4096 * 4096;
/** Text side files (classes.txt, batches.meta.txt, the mnist JSON digits). */
export const MAX_TEXT_FILE_BYTES = 64 * 1024 ** 2;

/** An AresError that names the file and the problem ("<file>: <problem>"). */
export function dataError(file: string, problem: string, cause?: unknown): AresError {
  return new AresError(problem, { file, cause });
}

/** Reads a whole regular data file of at most `maxBytes` (default MAX_DATA_FILE_BYTES). */
export async function readBytes(file: string, maxBytes = MAX_DATA_FILE_BYTES): Promise<Uint8Array> {
  const buf = await readRegularFile(file, { maxBytes, what: 'data file' });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A regular text file (class names, JSON digits) of at most MAX_TEXT_FILE_BYTES. */
export async function readText(file: string): Promise<string> {
  return (await readRegularFile(file, { maxBytes: MAX_TEXT_FILE_BYTES, what: 'file' })).toString('utf8');
}

/**
 * How many bytes a format's header says the whole (decompressed) file holds, given its first bytes:
 * 'more' while the header is incomplete, 'unknown' when the bytes are no valid header (reading then
 * stops, and the parser names the problem).
 */
export type DeclaredSize = (head: Uint8Array) => number | 'more' | 'unknown';

export interface InflateLimits {
  /** Never hold more than this many decompressed bytes. */
  maxBytes: number;
  /** Stop at what the header declares (a gzip bomb behind a small header stops right there). */
  declaredSize?: DeclaredSize;
  /** The format's name for messages ("IDX"). */
  format?: string;
}

/**
 * Reads a file and gunzips it when it starts with the gzip magic bytes (1f 8b). The gzip stream is
 * inflated chunk by chunk and never past `maxBytes` nor past the size its own header declares, so a
 * few MB of gzip that inflate to GBs fail after reading a header's worth.
 */
export async function readMaybeGzip(file: string, limits: InflateLimits): Promise<Uint8Array> {
  const { fh, size } = await openRegularFile(file, { maxBytes: limits.maxBytes, what: 'data file' });
  try {
    const magic = new Uint8Array(2);
    await fh.read(magic, 0, 2, 0);
    if (!isGzip(magic)) {
      const buf = await readOpened(fh, size);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const sink = new CappedSink(file, limits);
    try {
      await pipeline(fh.createReadStream({ start: 0, autoClose: false }), createGunzip(), sink);
    } catch (err) {
      if (sink.stoppedEarly) return sink.bytes();
      // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR: "unexpected end of file") are the file's fault;
      // anything else is ours or the file system's and is not dressed up as corrupt data.
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('Z_')) throw dataError(file, `corrupt or truncated gzip data (${(err as Error).message})`, err);
      throw err;
    }
    return sink.bytes();
  } finally {
    await fh.close();
  }
}

/** Collects inflated chunks up to the declared size; refuses more. */
class CappedSink extends Writable {
  private chunks: Uint8Array[] = [];
  private total = 0;
  private limit: number;
  private out: Uint8Array | null = null;
  /** Set when the header is no valid header: reading stops and the parser reports it. */
  stoppedEarly = false;

  constructor(private readonly file: string, private readonly limits: InflateLimits) {
    super();
    this.limit = limits.declaredSize ? Infinity : limits.maxBytes;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    try {
      this.take(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private take(chunk: Buffer): void {
    const { maxBytes, declaredSize, format = 'its' } = this.limits;
    if (this.out) {
      if (this.total + chunk.length > this.limit) throw this.tooMuch();
      this.out.set(chunk, this.total);
      this.total += chunk.length;
      return;
    }
    this.chunks.push(chunk);
    this.total += chunk.length;
    if (this.limit === Infinity && declaredSize) {
      const head = concatBytes(this.chunks, Math.min(this.total, 4096));
      const declared = declaredSize(head);
      if (declared === 'unknown') { this.stoppedEarly = true; throw new Error('stop: no valid header'); }
      if (declared === 'more') {
        if (this.total > 4096) { this.stoppedEarly = true; throw new Error('stop: header too long'); }
        return;
      }
      if (declared > maxBytes) {
        throw dataError(this.file, `${format} header declares ${formatBytes(declared)} of data, more than the ${formatBytes(maxBytes)} allowed for one data file`);
      }
      this.limit = declared;
      if (this.total > this.limit) throw this.tooMuch();
      // The declared size is now known and allowed: one buffer of exactly that size, no regrowth.
      this.out = new Uint8Array(declared);
      this.out.set(concatBytes(this.chunks, this.total));
      this.chunks = [];
    } else if (this.total > this.limit) {
      throw this.tooMuch();
    }
  }

  private tooMuch(): AresError {
    const { declaredSize, format = 'its' } = this.limits;
    return declaredSize
      ? dataError(this.file, `gzip data inflates to more than the ${formatBytes(this.limit)} its ${format} header declares (corrupt file or gzip bomb)`)
      : dataError(this.file, `gzip data inflates to more than the ${formatBytes(this.limit)} allowed for one data file`);
  }

  bytes(): Uint8Array {
    if (this.out) return this.out.subarray(0, this.total);
    return concatBytes(this.chunks, this.total);
  }
}

function concatBytes(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    if (at >= n) break;
    const part = c.subarray(0, n - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Gunzips bytes that start with the gzip magic (never to more than `maxBytes`); returns others unchanged. */
export async function maybeGunzip(raw: Uint8Array, file: string, maxBytes = MAX_DATA_FILE_BYTES): Promise<Uint8Array> {
  if (!isGzip(raw)) return raw;
  try {
    const out = await gunzipAsync(raw, { maxOutputLength: maxBytes });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw dataError(file, `gzip data inflates to more than the ${formatBytes(maxBytes)} allowed for one data file`, err);
    }
    throw dataError(file, `corrupt or truncated gzip data (${(err as Error).message})`, err);
  }
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file or folder';
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied';
  if (e?.code === 'EISDIR') return 'is a folder, not a file';
  return e?.message ?? String(err);
}

/** Throws unless every value is a finite number in [0, 1] (the ImageSet contract). */
export function checkUnitRange(values: ArrayLike<number>, file: string, what = 'pixel'): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 1)) {
      const bad = Number.isNaN(v) ? 'NaN' : String(v);
      throw dataError(file, `${what} value ${i} is ${bad}; values must be finite numbers in [0, 1]`);
    }
  }
}

/** Throws unless every label lies in [0, numClasses). */
export function checkLabels(labels: ArrayLike<number>, numClasses: number, file: string): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) {
      throw dataError(file, `label ${y} of item ${i} is out of range: expected 0..${numClasses - 1} (${numClasses} classes)`);
    }
  }
}

export function checkShape(shape: readonly number[], what: string): Shape {
  const ok = shape.length === 3 && shape.every((v) => Number.isInteger(v) && v > 0) && (shape[2] === 1 || shape[2] === 3);
  if (!ok) throw new AresError(`${what}: shape must be [height, width, 1 or 3] with positive integers, got [${shape.join(', ')}]`, { exitCode: 2 });
  if (shape[0] * shape[1] > MAX_IMAGE_PIXELS) {
    throw new AresError(`${what}: ${shape[0]}×${shape[1]} is more than the ${MAX_IMAGE_PIXELS} pixels (4096×4096) an image may have`, { exitCode: 2 });
  }
  return [shape[0], shape[1], shape[2]];
}

/** Parses "28x28", "28x28x1" or "32x32x3" (also with ×). */
export function parseShape(text: string): Shape {
  const parts = text.toLowerCase().split(/[x×,]/).map((s) => Number(s.trim()));
  const full = parts.length === 2 ? [parts[0], parts[1], 1] : parts;
  return checkShape(full, `shape "${text}"`);
}

/**
 * Parses a class list such as "0-5" or "0,2,4-6" into indices (order kept, no repeats). At most
 * MAX_CLASSES indices, each below MAX_CLASSES, checked before a range is expanded, so
 * "0-100000000" is a usage error at once rather than a long loop.
 */
export function parseClassList(text: string): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new AresError(`class list "${text}": "${part}" is not a class index or a range like 0-5`, { exitCode: 2 });
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new AresError(`class list "${text}": range ${part} is empty`, { exitCode: 2 });
    if (b >= MAX_CLASSES) throw new AresError(`class list "${text}": class ${b} is past the largest class index allowed (${MAX_CLASSES - 1})`, { exitCode: 2 });
    for (let c = a; c <= b; c++) if (!seen.has(c)) { seen.add(c); out.push(c); }
  }
  if (out.length === 0) throw new AresError(`class list "${text}" names no class`, { exitCode: 2 });
  return out;
}

export function formatShape(shape: readonly number[]): string {
  return shape.join('×');
}
