/**
 * Saving and loading tfjs layers models in a folder (model.json + weights.bin), the same files
 * tf.loadLayersModel(url) reads in a browser. Pure tfjs has no file:// handler in Node, so the
 * bytes go through a save handler / fromMemory here.
 */
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { MODEL_JSON, WEIGHTS_FILE, checkModelJsonSize, expectedWeightBytes, graphModelFromParts, modelFromParts, modelJsonFor, parseModelJson, shardPaths, type ModelJson } from '../export/model-json.js';
import type { DetectorSpec } from './detector.js';

function joinWeights(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  const parts = Array.isArray(data) ? data : [data];
  const out = new Uint8Array(parts.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of parts) { out.set(new Uint8Array(b), at); at += b.byteLength; }
  return out;
}

/**
 * Replaces folder `dir` with what `fill(tmp)` writes into a fresh temp folder beside it, so a
 * reader never sees a half-written folder (two renames; the old copy is removed afterwards).
 */
export function replaceDirAtomic(dir: string, fill: (tmp: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const stamp = `${process.pid}.${Date.now()}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.${stamp}.tmp`);
  const old = join(dirname(dir), `.${basename(dir)}.${stamp}.old`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (existsSync(old) && !existsSync(dir)) renameSync(old, dir);
    throw err;
  }
  rmSync(old, { recursive: true, force: true });
}

/** Writes model.json + weights.bin into `dir` (replacing it atomically). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const json = modelJsonFor(artifacts);
    const weights = joinWeights(artifacts.weightData);
    replaceDirAtomic(dir, (tmp) => {
      writeFileSync(join(tmp, MODEL_JSON), JSON.stringify(json));
      writeFileSync(join(tmp, WEIGHTS_FILE), weights);
    });
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  }));
}

function readOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AresError(code === 'ENOENT' ? `missing ${what}` : `cannot read ${what}: ${(err as Error).message}`, { file: path });
  }
}

/**
 * model.json's text, its size checked (stat) before it is read: a huge file is refused, not read
 * into memory whole. (A generic bounded reader may replace this stat-based check.)
 */
export function readModelJsonText(file: string): string {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new AresError('is not a file (expected a tfjs model.json)', { file });
    size = st.size;
  } catch (err) {
    if (err instanceof AresError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new AresError(code === 'ENOENT' ? 'model file not found (expected a tfjs model.json)' : `cannot read the model file: ${(err as Error).message}`, { file });
  }
  checkModelJsonSize(size, file);
  return readFileSync(file, 'utf8');
}

/** Size of `path` in bytes, or -1 when it is missing (readOrFail then names it). */
const sizeOf = (path: string) => { try { return statSync(path).size; } catch { return -1; } };

function readModelDir(dir: string): { m: ModelJson; shards: ArrayBuffer[]; jsonPath: string } {
  const jsonPath = join(dir, MODEL_JSON);
  checkModelJsonSize(sizeOf(jsonPath), jsonPath);
  const m = parseModelJson(readOrFail(jsonPath, 'model file').toString('utf8'), jsonPath);
  // Shards larger than the manifest describes are refused before they are read into memory.
  const expected = expectedWeightBytes(m);
  const onDisk = shardPaths(m).reduce((n, p) => n + Math.max(0, sizeOf(join(dir, p))), 0);
  if (!Number.isNaN(expected) && onDisk > expected) {
    throw new AresError(`weight shards hold ${onDisk} bytes, model.json describes ${expected} (mismatched shard, or quantisation info that does not fit the data)`, { file: jsonPath });
  }
  const shards = shardPaths(m).map((p) => {
    const b = readOrFail(join(dir, p), 'weight shard');
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  });
  return { m, shards, jsonPath };
}

/** Loads a model saved by saveLayersModel (or by tfjs's converter: any shard layout). */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  const { m, shards, jsonPath } = readModelDir(dir);
  return modelFromParts(m, shards, jsonPath);
}

/** Loads a tfjs graph model (model.json with a GraphDef topology + shards) from a folder. */
export async function loadGraphModelFromDir(dir: string): Promise<tf.GraphModel> {
  const { m, shards, jsonPath } = readModelDir(dir);
  return graphModelFromParts(m, shards, jsonPath);
}

/** A run folder's model/, as its detector.json says it is stored (a graph model, or a layers model). */
export function loadRunModel(dir: string, spec: DetectorSpec): Promise<tf.LayersModel | tf.GraphModel> {
  return spec.model?.format === 'graph-model' ? loadGraphModelFromDir(dir) : loadLayersModelFromDir(dir);
}

/** Copies model.json and its shards, unchanged, from folder `from` into folder `to` (created). */
export function copyModelFiles(from: string, to: string): void {
  const { m } = readModelDir(from);
  mkdirSync(to, { recursive: true });
  for (const p of [MODEL_JSON, ...shardPaths(m)]) {
    mkdirSync(dirname(join(to, p)), { recursive: true });
    copyFileSync(join(from, p), join(to, p));
  }
}
