/**
 * Compact text encodings for fitted detector states in JSON (detector.json, an exported bundle's
 * ares.json): base64 of little-endian typed arrays, written without Buffer or btoa so Node and the
 * browser loader decode the same bytes the same way. A number list in JSON costs ~20 bytes per
 * value; base64 float64 costs 10.7, float32 5.3, int8 1.3.
 */
import { AresError } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function bytesToBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i], b = bytes[i + 1] ?? 0, c = bytes[i + 2] ?? 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63]
      + (i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : '=') + (i + 2 < bytes.length ? ALPHABET[n & 63] : '=');
    // Joining in pieces keeps string building linear for multi-megabyte banks.
    if (chunk.length >= 65536) { parts.push(chunk); chunk = ''; }
  }
  parts.push(chunk);
  return parts.join('');
}

export function base64ToBytes(text: string, what: string): Uint8Array {
  if (text.length % 4 !== 0) throw new AresError(`${what}: base64 length ${text.length} is not a multiple of 4`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text.charCodeAt(i + j);
      const v = ch === 61 && i + j >= text.length - pad ? 0 : ch < 128 ? LOOKUP[ch] : -1;
      if (v < 0) throw new AresError(`${what}: invalid base64 character at ${i + j}`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function viewBytes(a: Float32Array | Float64Array): Uint8Array {
  if (!littleEndian) throw new AresError('big-endian platforms are not supported for detector states');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export const encodeF64 = (a: Float64Array): string => bytesToBase64(viewBytes(a));
export const encodeF32 = (a: Float32Array): string => bytesToBase64(viewBytes(a));

function decodeFloats<T extends Float32Array | Float64Array>(C: { new(b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, text: unknown, length: number, what: string): T {
  if (typeof text !== 'string') throw new AresError(`${what}: expected a base64 string`);
  if (!littleEndian) throw new AresError('big-endian platforms are not supported for detector states');
  const bytes = base64ToBytes(text, what);
  if (bytes.length !== length * C.BYTES_PER_ELEMENT) {
    throw new AresError(`${what}: ${bytes.length} bytes, expected ${length} values of ${C.BYTES_PER_ELEMENT} bytes`);
  }
  const out = new C(bytes.slice().buffer);
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) throw new AresError(`${what}: value ${i} is not finite`);
  return out;
}

export const decodeF64 = (text: unknown, length: number, what: string) => decodeFloats(Float64Array, text, length, what);
export const decodeF32 = (text: unknown, length: number, what: string) => decodeFloats(Float32Array, text, length, what);

/** Rows quantised to int8 with one float32 scale per row: value ≈ q·scale, |error| ≤ scale/2 = max|row|/254. */
export interface Int8Rows {
  rows: number;
  cols: number;
  /** base64 of rows·cols int8 values. */
  q: string;
  /** base64 of rows float32 scales. */
  scale: string;
}

export function quantizeRowsInt8(data: ArrayLike<number>, rows: number, cols: number): Int8Rows {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(data[r * cols + j]));
    // Math.fround: the decoder multiplies by the stored float32, so quantise against that same value.
    const s = Math.fround(max > 0 ? max / 127 : 1);
    scale[r] = s;
    for (let j = 0; j < cols; j++) q[r * cols + j] = Math.max(-127, Math.min(127, Math.round(data[r * cols + j] / s)));
  }
  return { rows, cols, q: bytesToBase64(new Uint8Array(q.buffer)), scale: encodeF32(scale) };
}

export function dequantizeRowsInt8(v: unknown, what: string): { data: Float32Array; rows: number; cols: number } {
  const o = v as Partial<Int8Rows> | null;
  const rows = o?.rows, cols = o?.cols;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows! < 1 || cols! < 1) throw new AresError(`${what}: rows and cols must be positive integers`);
  if (typeof o!.q !== 'string') throw new AresError(`${what}: "q" must be a base64 string`);
  const bytes = base64ToBytes(o!.q, `${what}.q`);
  if (bytes.length !== rows! * cols!) throw new AresError(`${what}.q: ${bytes.length} values, expected ${rows! * cols!}`);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const scale = decodeF32(o!.scale, rows!, `${what}.scale`);
  const data = new Float32Array(rows! * cols!);
  for (let r = 0; r < rows!; r++) for (let j = 0; j < cols!; j++) data[r * cols! + j] = q[r * cols! + j] * scale[r];
  return { data, rows: rows!, cols: cols! };
}
