/**
 * The tfjs "layers-model" file format (model.json + weight shards), read from any byte source.
 * Pure (tfjs only): Node reads the files from disk, the browser fetches them, both end here.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { parseJsonText } from '../util/json-text.js';
import { MAX_JSON_DEPTH, jsonNestingDepth } from '../util/json-depth.js';

/** model.json as tf.loadLayersModel(url) reads it. */
export interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** Graph models (tensorflowjs_converter output) may carry these; passed to tfjs as they are. */
  signature?: object;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: object;
}

/** A tfjs graph model's model.json: modelTopology is a GraphDef ({node: [...]}). */
export function isGraphModelJson(m: { format?: unknown; modelTopology?: unknown }): boolean {
  return m.format === 'graph-model' || Array.isArray((m.modelTopology as { node?: unknown } | undefined)?.node);
}

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

/**
 * Largest model.json ares reads (64 MiB). The topology of real models is well under 1 MiB (the
 * weights live in the shards); the cap keeps a huge or hostile file from being read into memory whole.
 */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

/** Refuses a model.json of `bytes` bytes over the cap (the Node readers stat the file first). */
export function checkModelJsonSize(bytes: number, source: string): void {
  if (bytes > MAX_MODEL_JSON_BYTES) {
    throw new AresError(`model.json is ${(bytes / 2 ** 20).toFixed(0)} MiB; ares reads model files of at most ${MAX_MODEL_JSON_BYTES / 2 ** 20} MiB `
      + '(the topology of a tfjs model is far smaller; its weights belong in the weight shards)', { file: source });
  }
}

/** Bytes per value of each weight dtype a manifest may give (string weights have variable size). */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };
/** Which weight dtypes tfjs dequantises each quantisation dtype into. */
const QUANTIZES: Record<string, readonly string[]> = { uint8: ['float32', 'int32'], uint16: ['float32', 'int32'], float16: ['float32'] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** JSON text of a model.json → the parsed value, refusing nesting deeper than any model (see json-depth.ts). */
export function parseModelJsonText(text: string, source: string): unknown {
  if (jsonNestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new AresError(`model.json nests more than ${MAX_JSON_DEPTH} levels deep; not a tfjs model file`, { file: source });
  }
  return parseJsonText(text, source);
}

/** One weightsManifest entry, checked so that sizes and dequantisation can be trusted. */
function checkWeightEntry(w: unknown, at: string, source: string): void {
  const bad = (why: string) => new AresError(`weightsManifest ${at}: ${why}`, { file: source });
  if (!isObject(w)) throw bad('must be an object {name, shape, dtype}');
  if (typeof w.name !== 'string' || w.name === '') throw bad('needs a "name" (a non-empty string)');
  const named = `weight "${w.name}"`;
  const badW = (why: string) => new AresError(`weightsManifest ${named}: ${why}`, { file: source });
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw badW(`"shape" must be a list of non-negative integers, got ${JSON.stringify(w.shape)}`);
  }
  if (!Number.isSafeInteger(valueCount(w.shape as number[]))) throw badW(`shape [${(w.shape as number[]).join(', ')}] has too many values`);
  if (typeof w.dtype !== 'string' || !(own(DTYPE_BYTES, w.dtype) || w.dtype === 'string')) {
    throw badW(`unknown dtype ${JSON.stringify(w.dtype)} (tfjs weights are ${[...Object.keys(DTYPE_BYTES), 'string'].join(', ')})`);
  }
  if (w.quantization === undefined) return;
  const q = w.quantization;
  if (!isObject(q) || typeof q.dtype !== 'string' || !own(QUANTIZED_BYTES, q.dtype)) {
    throw badW(`"quantization" must give a dtype of ${Object.keys(QUANTIZED_BYTES).join(', ')}, got ${JSON.stringify(isObject(q) ? q.dtype : q)}`);
  }
  if (!QUANTIZES[q.dtype].includes(w.dtype)) throw badW(`${w.dtype} weights cannot be quantised as ${q.dtype}`);
  if (q.dtype !== 'float16' && !(typeof q.scale === 'number' && Number.isFinite(q.scale) && typeof q.min === 'number' && Number.isFinite(q.min))) {
    throw badW(`${q.dtype} quantisation needs finite "scale" and "min" (the values are min + scale × stored value), got scale ${JSON.stringify(q.scale)}, min ${JSON.stringify(q.min)}`);
  }
}

/**
 * The parsed model.json checked before anything trusts it: modelTopology an object,
 * weightsManifest groups of shard paths (inside the model's folder) and well-formed weight entries.
 */
export function validateModelJson(raw: unknown, source: string): ModelJson {
  if (!isObject(raw) || !isObject(raw.modelTopology) || !Array.isArray(raw.weightsManifest)) {
    throw new AresError('not a tfjs layers model or graph model (needs a "modelTopology" object and a "weightsManifest" list)', { file: source });
  }
  raw.weightsManifest.forEach((g: unknown, gi: number) => {
    if (!isObject(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new AresError(`weightsManifest group ${gi} must be {paths: [...], weights: [...]}`, { file: source });
    }
    g.weights.forEach((w: unknown, wi: number) => checkWeightEntry(w, `group ${gi} entry ${wi}`, source));
  });
  for (const p of shardPaths(raw as unknown as ModelJson)) {
    // Shards live beside model.json; anything else could read or write outside the folder.
    if (typeof p !== 'string' || !p || p.startsWith('/') || p.split(/[\\/]/).includes('..') || /^[a-z]+:/i.test(p)) {
      throw new AresError(`weight shard path ${JSON.stringify(p)} must be relative to model.json, inside its folder`, { file: source });
    }
  }
  for (const k of ['format', 'generatedBy'] as const) {
    if (raw[k] !== undefined && typeof raw[k] !== 'string') throw new AresError(`"${k}" must be a string`, { file: source });
  }
  for (const k of ['signature', 'userDefinedMetadata', 'modelInitializer'] as const) {
    if (raw[k] !== undefined && raw[k] !== null && !isObject(raw[k])) throw new AresError(`"${k}" must be an object`, { file: source });
  }
  return raw as unknown as ModelJson;
}

export function parseModelJson(text: string, source: string): ModelJson {
  return validateModelJson(parseModelJsonText(text, source), source);
}

/** Shard paths in manifest order, relative to model.json. */
export function shardPaths(m: ModelJson): string[] {
  return m.weightsManifest.flatMap((g) => g.paths);
}

const valueCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Bytes one (validated) manifest entry takes in the shards; NaN for string weights (their size is in the data). */
function entryBytes(w: tf.io.WeightsManifestEntry): number {
  const per = w.quantization ? QUANTIZED_BYTES[w.quantization.dtype] : DTYPE_BYTES[w.dtype];
  return per === undefined ? NaN : valueCount(w.shape) * per;
}

/**
 * Bytes the manifest's weights take, quantised ones included, to catch truncated shards and
 * quantisation info that lies about them before tfjs reads past the data or decodes it wrongly.
 * NaN when a string weight makes the total unknowable from the manifest.
 */
export function expectedWeightBytes(m: ModelJson): number {
  return m.weightsManifest.flatMap((g) => g.weights).reduce((n, w) => n + entryBytes(w), 0);
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) { out.set(new Uint8Array(b), at); at += b.byteLength; }
  return out.buffer;
}

/** Whether a float16's bits (little-endian at `at`) encode NaN (or, unless allowed, ±Infinity): exponent bits all ones. */
function badHalf(bytes: Uint8Array, at: number, allowInfinite: boolean): boolean {
  const h = bytes[at] | (bytes[at + 1] << 8);
  if ((h & 0x7c00) !== 0x7c00) return false;
  return !allowInfinite || (h & 0x03ff) !== 0;
}

/**
 * The first weight whose values are not finite, with what they hold. Layers models never need
 * ±Infinity in a weight; graph models may (a -inf mask constant), so for them only NaN counts.
 * uint8/uint16-quantised weights are min + scale × q with finite min and scale: always finite.
 */
export function nonFiniteWeight(specs: readonly tf.io.WeightsManifestEntry[], data: ArrayBuffer, allowInfinite: boolean): { name: string; what: string } | null {
  const bytes = new Uint8Array(data);
  let at = 0;
  for (const w of specs) {
    const size = entryBytes(w);
    // String weights: offsets beyond are not known here; data shorter than described: tfjs reports it.
    if (Number.isNaN(size) || at + size > data.byteLength) return null;
    const q = w.quantization?.dtype;
    if (q === 'float16') {
      for (let i = at; i < at + size; i += 2) {
        if (badHalf(bytes, i, allowInfinite)) return { name: w.name, what: allowInfinite ? 'NaN' : 'NaN or infinite values' };
      }
    } else if (!q && w.dtype === 'float32') {
      // An aligned view when the weight starts on a 4-byte boundary (usual), else a copy.
      const values = at % 4 === 0 ? new Float32Array(data, at, size / 4) : new Float32Array(data.slice(at, at + size));
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== v) return { name: w.name, what: 'NaN' };
        if (!allowInfinite && (v === Infinity || v === -Infinity)) return { name: w.name, what: 'infinite values' };
      }
    }
    at += size;
  }
  return null;
}

function weightsOf(m: ModelJson, shards: ArrayBuffer[], source: string, kind: 'layers' | 'graph'): { weightData: ArrayBuffer; weightSpecs: tf.io.WeightsManifestEntry[] } {
  const weightData = concat(shards);
  const expected = expectedWeightBytes(m);
  if (!Number.isNaN(expected) && expected !== weightData.byteLength) {
    throw new AresError(`weights are ${weightData.byteLength} bytes, model.json describes ${expected} (truncated or mismatched shard, or quantisation info that does not fit the data)`, { file: source });
  }
  const weightSpecs = m.weightsManifest.flatMap((g) => g.weights);
  const bad = nonFiniteWeight(weightSpecs, weightData, kind === 'graph');
  if (bad) {
    throw new AresError(`weight "${bad.name}" holds ${bad.what}: the model's weights are not finite (a diverged training run or a damaged file), so its outputs would be meaningless`, { file: source });
  }
  return { weightData, weightSpecs };
}

/** Builds the model from model.json and its shards (in shardPaths order). */
export async function modelFromParts(m: ModelJson, shards: ArrayBuffer[], source: string): Promise<tf.LayersModel> {
  if (isGraphModelJson(m)) throw new AresError('this is a tfjs graph model, not a layers model', { file: source });
  const { weightData, weightSpecs } = weightsOf(m, shards, source, 'layers');
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: m.modelTopology, weightSpecs, weightData }));
  } catch (err) {
    throw new AresError(`could not build the model: ${(err as Error).message}`, { file: source, cause: err });
  }
}

/** Builds a tfjs graph model from its model.json (GraphDef topology) and shards. */
export async function graphModelFromParts(m: ModelJson, shards: ArrayBuffer[], source: string): Promise<tf.GraphModel> {
  if (!isGraphModelJson(m)) throw new AresError('expected a tfjs graph model (format "graph-model", a GraphDef topology)', { file: source });
  const { weightData, weightSpecs } = weightsOf(m, shards, source, 'graph');
  try {
    return await tf.loadGraphModel(tf.io.fromMemory({
      modelTopology: m.modelTopology, weightSpecs, weightData, format: m.format, generatedBy: m.generatedBy, convertedBy: m.convertedBy ?? undefined,
      signature: m.signature, userDefinedMetadata: m.userDefinedMetadata, modelInitializer: m.modelInitializer,
    }));
  } catch (err) {
    throw new AresError(`could not build the graph model: ${(err as Error).message}`, { file: source, cause: err });
  }
}

/** The model.json object for artifacts tfjs hands a save handler, with one weights file. */
export function modelJsonFor(artifacts: tf.io.ModelArtifacts): ModelJson {
  if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) {
    throw new AresError('only tfjs layers models (with a JSON topology) can be saved');
  }
  return {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
  };
}
