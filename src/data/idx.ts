import { basename } from 'node:path';
import { MAX_CLASSES, MAX_DATA_FILE_BYTES, checkLabels, checkUnitRange, dataError, readMaybeGzip, type DeclaredSize } from './check.js';
import type { ImageSet, Shape } from './types.js';

/**
 * IDX, the MNIST family's format: two zero bytes, a type code, the number of dimensions, then each
 * dimension as a big-endian uint32, then the values big-endian. Files may be gzipped (as published).
 */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxType;
  dims: number[];
  data: IdxData;
}

export type IdxType = 'ubyte' | 'byte' | 'short' | 'int' | 'float' | 'double';

const TYPES: Record<number, { name: IdxType; size: number }> = {
  0x08: { name: 'ubyte', size: 1 },
  0x09: { name: 'byte', size: 1 },
  0x0b: { name: 'short', size: 2 },
  0x0c: { name: 'int', size: 4 },
  0x0d: { name: 'float', size: 4 },
  0x0e: { name: 'double', size: 8 },
};

/**
 * The whole file's size as its IDX header declares it (header + count × value size), so a gzipped
 * file is inflated no further than that; 'unknown' for bytes that are no IDX header.
 */
export const idxDeclaredSize: DeclaredSize = (head) => {
  if (head.length < 4) return 'more';
  const type = TYPES[head[2]];
  if (head[0] !== 0 || head[1] !== 0 || !type || head[3] === 0) return 'unknown';
  const headerLen = 4 + 4 * head[3];
  if (head.length < headerLen) return 'more';
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let count = 1;
  for (let i = 0; i < head[3]; i++) count *= view.getUint32(4 + 4 * i, false);
  return headerLen + count * type.size;
};

/** Reads an IDX file, gzipped or not, holding at most what its header declares (and MAX_DATA_FILE_BYTES). */
export async function readIdxFile(file: string): Promise<IdxArray> {
  const bytes = await readMaybeGzip(file, { maxBytes: MAX_DATA_FILE_BYTES, declaredSize: idxDeclaredSize, format: 'IDX' });
  return parseIdx(bytes, file);
}

/** Decodes IDX bytes (already gunzipped). Throws an AresError naming `file` for any malformed input. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length === 0) throw dataError(file, 'file is empty');
  if (bytes.length < 4) throw dataError(file, `truncated IDX header: ${bytes.length} bytes, need at least 4`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw dataError(file, `not an IDX file: wrong magic number (first bytes ${hex(bytes, 4)}, expected 00 00 <type> <ndims>)`);
  }
  const type = TYPES[bytes[2]];
  if (!type) throw dataError(file, `not an IDX file: unknown data type code 0x${bytes[2].toString(16).padStart(2, '0')}`);
  const ndims = bytes[3];
  if (ndims === 0) throw dataError(file, 'IDX header declares 0 dimensions');
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) throw dataError(file, `truncated IDX header: ${ndims} dimensions need ${headerLen} bytes, file has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const available = bytes.length - headerLen;
  // Multiply step by step against the bytes present so absurd headers fail before any allocation.
  let count = 1;
  for (const d of dims) {
    count *= d;
    if (count * type.size > available) {
      throw dataError(file, `truncated IDX data: dimensions [${dims.join(', ')}] of ${type.name} need ${fmtBytes(dims, type.size)} bytes of data, file has ${available}`);
    }
  }
  const expected = count * type.size;
  if (available > expected) {
    throw dataError(file, `corrupt IDX file: ${available - expected} unexpected bytes after the data of dimensions [${dims.join(', ')}]`);
  }
  return { dtype: type.name, dims, data: readValues(view, headerLen, count, type.name) };
}

function readValues(view: DataView, offset: number, count: number, dtype: IdxType): IdxData {
  switch (dtype) {
    case 'ubyte': return new Uint8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'byte': return new Int8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'short': { const a = new Int16Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt16(offset + 2 * i, false); return a; }
    case 'int': { const a = new Int32Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt32(offset + 4 * i, false); return a; }
    case 'float': { const a = new Float32Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat32(offset + 4 * i, false); return a; }
    case 'double': { const a = new Float64Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat64(offset + 8 * i, false); return a; }
  }
}

/** Images from an IDX array: [N, H, W] (grey) or [N, H, W, C] with C = 1 or 3; ubyte → /255, floats must lie in [0, 1]. */
export function idxToImages(arr: IdxArray, file: string): { shape: Shape; count: number; images: Float32Array } {
  const { dims } = arr;
  if (dims.length !== 3 && !(dims.length === 4 && (dims[3] === 1 || dims[3] === 3))) {
    throw dataError(file, `not an image file: IDX dimensions [${dims.join(', ')}], expected [N, H, W] or [N, H, W, 1|3] (is this a labels file?)`);
  }
  if (dims[0] === 0) throw dataError(file, 'holds no images (its first dimension is 0)');
  const shape: Shape = [dims[1], dims[2], dims.length === 4 ? dims[3] : 1];
  if (shape[0] === 0 || shape[1] === 0) throw dataError(file, `images of size ${shape[0]}×${shape[1]} are empty`);
  let images: Float32Array;
  if (arr.dtype === 'ubyte') {
    images = new Float32Array(arr.data.length);
    for (let i = 0; i < images.length; i++) images[i] = arr.data[i] / 255;
  } else if (arr.dtype === 'float' || arr.dtype === 'double') {
    checkUnitRange(arr.data, file);
    images = Float32Array.from(arr.data);
  } else {
    throw dataError(file, `IDX images of type ${arr.dtype} are not supported (use ubyte, or float/double in [0, 1])`);
  }
  return { shape, count: dims[0], images };
}

/** Labels from an IDX array: one dimension, an integer type. */
export function idxToLabels(arr: IdxArray, file: string): Int32Array {
  if (arr.dims.length !== 1) throw dataError(file, `not a labels file: IDX dimensions [${arr.dims.join(', ')}], expected [N]`);
  if (arr.dtype === 'float' || arr.dtype === 'double') throw dataError(file, `labels must be integers, file holds ${arr.dtype} values`);
  return Int32Array.from(arr.data);
}

/** Reads an IDX image file and, when given, its labels file; checks counts and label range. */
export async function loadIdxPair(
  imagesFile: string,
  labelsFile: string | null,
  opts: { name: string; classNames?: string[] },
): Promise<ImageSet> {
  const img = idxToImages(await readIdxFile(imagesFile), imagesFile);
  const set: ImageSet = { name: opts.name, ...img };
  if (!labelsFile) return set;
  const labels = idxToLabels(await readIdxFile(labelsFile), labelsFile);
  if (labels.length !== img.count) {
    throw dataError(imagesFile, `has ${img.count} images but its labels file ${labelsFile} has ${labels.length} labels`);
  }
  const classNames = opts.classNames ?? defaultNames(labels, labelsFile);
  checkLabels(labels, classNames.length, labelsFile);
  return { ...set, labels, classNames };
}

/**
 * Without a names file: the MNIST family's ten digits, or 0..max when labels go beyond 9. The names
 * are built from the largest label, so a label past MAX_CLASSES (one corrupt byte in an int file
 * can say 2147483647) is refused here rather than building billions of names.
 */
function defaultNames(labels: Int32Array, file: string): string[] {
  let max = 9;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y >= MAX_CLASSES) {
      throw dataError(file, `label ${y} of item ${i} is past the largest class index allowed (${MAX_CLASSES - 1}); labels are class indices 0..k-1`);
    }
    if (y > max) max = y;
  }
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}

/** The labels file that goes with an images file (train-images-idx3-ubyte → train-labels-idx1-ubyte). */
export function labelsFileFor(imagesFile: string): string | null {
  const name = basename(imagesFile);
  if (!/images[-.]idx3/.test(name)) return null;
  return imagesFile.slice(0, imagesFile.length - name.length) + name.replace(/images([-.])idx3/, 'labels$1idx1');
}

function hex(bytes: Uint8Array, n: number): string {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function fmtBytes(dims: number[], size: number): string {
  return String(dims.reduce((a, b) => a * b, size));
}
