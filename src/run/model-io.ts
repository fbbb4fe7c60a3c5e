/**
 * Saving and loading tfjs layers models in a folder (model.json + weights.bin), the same files
 * tf.loadLayersModel(url) reads in a browser. Pure tfjs has no file:// handler in Node, so the
 * bytes go through a save handler / fromMemory here.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { MODEL_JSON, WEIGHTS_FILE, modelFromParts, modelJsonFor, parseModelJson, shardPaths } from '../export/model-json.js';

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

/** Loads a model saved by saveLayersModel (or by tfjs's converter: any shard layout). */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  const jsonPath = join(dir, MODEL_JSON);
  const m = parseModelJson(readOrFail(jsonPath, 'model file').toString('utf8'), jsonPath);
  const shards = shardPaths(m).map((p) => {
    const b = readOrFail(join(dir, p), 'weight shard');
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  });
  return modelFromParts(m, shards, jsonPath);
}
