/**
 * The tfjs "layers-model" file format (model.json + weight shards), read from any byte source.
 * Pure (tfjs only): Node reads the files from disk, the browser fetches them, both end here.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { parseJsonText } from '../util/json-text.js';

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

export function parseModelJson(text: string, source: string): ModelJson {
  const m = parseJsonText(text, source) as Partial<ModelJson> | null;
  if (!m || typeof m !== 'object' || !m.modelTopology || !Array.isArray(m.weightsManifest)
    || !m.weightsManifest.every((g) => Array.isArray(g?.paths) && Array.isArray(g?.weights))) {
    throw new AresError('not a tfjs layers model (needs modelTopology and weightsManifest)', { file: source });
  }
  for (const p of shardPaths(m as ModelJson)) {
    // Shards live beside model.json; anything else could read or write outside the folder.
    if (typeof p !== 'string' || !p || p.startsWith('/') || p.split(/[\\/]/).includes('..') || /^[a-z]+:/i.test(p)) {
      throw new AresError(`weight shard path ${JSON.stringify(p)} must be relative to model.json, inside its folder`, { file: source });
    }
  }
  return m as ModelJson;
}

/** Shard paths in manifest order, relative to model.json. */
export function shardPaths(m: ModelJson): string[] {
  return m.weightsManifest.flatMap((g) => g.paths);
}

/** Bytes the manifest's weights take, to catch truncated shards before tfjs reads past them. */
export function expectedWeightBytes(m: ModelJson): number {
  let total = 0;
  for (const w of m.weightsManifest.flatMap((g) => g.weights)) {
    const bytesPer = w.dtype === 'float32' || w.dtype === 'int32' ? 4 : w.dtype === 'bool' ? 1 : NaN;
    if (w.quantization || Number.isNaN(bytesPer)) return NaN; // quantised/other weights: let tfjs check.
    total += w.shape.reduce((a, b) => a * b, 1) * bytesPer;
  }
  return total;
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) { out.set(new Uint8Array(b), at); at += b.byteLength; }
  return out.buffer;
}

function weightsOf(m: ModelJson, shards: ArrayBuffer[], source: string): { weightData: ArrayBuffer; weightSpecs: tf.io.WeightsManifestEntry[] } {
  const weightData = concat(shards);
  const expected = expectedWeightBytes(m);
  if (!Number.isNaN(expected) && expected !== weightData.byteLength) {
    throw new AresError(`weights are ${weightData.byteLength} bytes, model.json describes ${expected} (truncated or mismatched shard)`, { file: source });
  }
  return { weightData, weightSpecs: m.weightsManifest.flatMap((g) => g.weights) };
}

/** Builds the model from model.json and its shards (in shardPaths order). */
export async function modelFromParts(m: ModelJson, shards: ArrayBuffer[], source: string): Promise<tf.LayersModel> {
  if (isGraphModelJson(m)) throw new AresError('this is a tfjs graph model, not a layers model', { file: source });
  const { weightData, weightSpecs } = weightsOf(m, shards, source);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: m.modelTopology, weightSpecs, weightData }));
  } catch (err) {
    throw new AresError(`could not build the model: ${(err as Error).message}`, { file: source, cause: err });
  }
}

/** Builds a tfjs graph model from its model.json (GraphDef topology) and shards. */
export async function graphModelFromParts(m: ModelJson, shards: ArrayBuffer[], source: string): Promise<tf.GraphModel> {
  if (!isGraphModelJson(m)) throw new AresError('expected a tfjs graph model (format "graph-model", a GraphDef topology)', { file: source });
  const { weightData, weightSpecs } = weightsOf(m, shards, source);
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
