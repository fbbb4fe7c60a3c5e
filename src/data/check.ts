import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { readFile, stat } from 'node:fs/promises';
import { AresError } from '../errors.js';
import type { Shape } from './types.js';

const gunzipAsync = promisify(gunzip);

/** An AresError that names the file and the problem ("<file>: <problem>"). */
export function dataError(file: string, problem: string, cause?: unknown): AresError {
  return new AresError(problem, { file, cause });
}

/** Reads a whole file, turning "no such file" and friends into one clear AresError. */
export async function readBytes(file: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw dataError(file, `cannot read file (${describeFsError(err)})`, err);
  }
}

/** Reads a file and gunzips it when it starts with the gzip magic bytes (1f 8b). */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  return maybeGunzip(await readBytes(file), file);
}

/** Gunzips bytes that start with the gzip magic; returns others unchanged. */
export async function maybeGunzip(raw: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(raw)) return raw;
  try {
    const out = await gunzipAsync(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
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
  return [shape[0], shape[1], shape[2]];
}

/** Parses "28x28", "28x28x1" or "32x32x3" (also with ×). */
export function parseShape(text: string): Shape {
  const parts = text.toLowerCase().split(/[x×,]/).map((s) => Number(s.trim()));
  const full = parts.length === 2 ? [parts[0], parts[1], 1] : parts;
  return checkShape(full, `shape "${text}"`);
}

/** Parses a class list such as "0-5" or "0,2,4-6" into indices (order kept, no repeats). */
export function parseClassList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new AresError(`class list "${text}": "${part}" is not a class index or a range like 0-5`, { exitCode: 2 });
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new AresError(`class list "${text}": range ${part} is empty`, { exitCode: 2 });
    for (let c = a; c <= b; c++) if (!out.includes(c)) out.push(c);
  }
  if (out.length === 0) throw new AresError(`class list "${text}" names no class`, { exitCode: 2 });
  return out;
}

export function formatShape(shape: readonly number[]): string {
  return shape.join('×');
}
