import { AresError } from '../errors.js';
import { MAX_JSON_DEPTH, jsonNestingDepth } from './json-depth.js';

/**
 * A small self-describing container for named numeric arrays plus JSON metadata, used for
 * checkpoints. Layout: "ARESBNDL" | u32 header length | JSON header | 8-byte aligned payloads.
 */
export type NumericArray = Float32Array | Float64Array | Int32Array;
const MAGIC = 'ARESBNDL';
const KINDS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;
type Kind = keyof typeof KINDS;

interface Entry { name: string; kind: Kind; length: number; offset: number }

function kindOf(a: NumericArray): Kind {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

export function encodeBundle(arrays: Record<string, NumericArray>, meta: unknown): Uint8Array {
  const entries: Entry[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    entries.push({ name, kind: kindOf(a), length: a.length, offset });
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const header = new TextEncoder().encode(JSON.stringify({ entries, meta }));
  const start = Math.ceil((12 + header.length) / 8) * 8;
  const out = new Uint8Array(start + offset);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  for (const e of entries) {
    const a = arrays[e.name];
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), start + e.offset);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Reads a bundle, trusting nothing in its header: every entry must lie inside the file, so a
 * doctored header cannot make the reader allocate more than the file holds or index past it.
 */
export function decodeBundle(bytes: Uint8Array, file: string): { arrays: Record<string, NumericArray>; meta: unknown } {
  const bad = (why: string) => new AresError(`not a valid checkpoint: ${why}`, { file });
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw bad('wrong magic bytes');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + headerLength > bytes.length) throw bad('truncated header');
  const text = new TextDecoder().decode(bytes.subarray(12, 12 + headerLength));
  // JSON.parse nests without limit, but later walks (JSON.stringify of the config) recurse.
  if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw bad(`header nests more than ${MAX_JSON_DEPTH} levels deep`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    throw bad('corrupt header');
  }
  if (!isObject(header) || !Array.isArray(header.entries)) throw bad('header has no "entries" list');
  const start = Math.ceil((12 + headerLength) / 8) * 8;
  const arrays: Record<string, NumericArray> = Object.create(null) as Record<string, NumericArray>;
  for (const e of header.entries as unknown[]) {
    if (!isObject(e) || typeof e.name !== 'string') throw bad('an entry of the header has no "name"');
    const what = `array ${JSON.stringify(e.name)}`;
    if (typeof e.kind !== 'string' || !Object.prototype.hasOwnProperty.call(KINDS, e.kind)) throw bad(`${what} has unknown array kind ${JSON.stringify(e.kind)}`);
    if (!isCount(e.length) || !isCount(e.offset)) throw bad(`${what} needs a non-negative integer "length" and "offset"`);
    if (e.name in arrays) throw bad(`${what} appears twice`);
    const Ctor = KINDS[e.kind as Kind];
    const begin = start + e.offset;
    const end = begin + e.length * Ctor.BYTES_PER_ELEMENT;
    if (end > bytes.length) throw bad(`${what} is truncated (it needs bytes ${begin}-${end}, the file has ${bytes.length})`);
    // Copy so the result is aligned and independent of the file buffer.
    arrays[e.name] = new Ctor(new Uint8Array(bytes.subarray(begin, end)).buffer);
  }
  return { arrays, meta: header.meta };
}
