/**
 * Saving and loading tfjs layers models in a folder (model.json + weights.bin), the same files
 * tf.loadLayersModel(url) reads in a browser. Pure tfjs has no file:// handler in Node, so the
 * bytes go through a save handler / fromMemory here.
 */
import * as tf from '@tensorflow/tfjs';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { fsError, withFsErrors } from '../util/fs.js';
import { readRegularFileSync } from '../util/read-file.js';
import { MAX_MODEL_JSON_BYTES, MODEL_JSON, WEIGHTS_FILE, checkModelJsonSize, expectedWeightBytes, graphModelFromParts, modelFromParts, modelJsonFor, parseModelJson, shardPaths, type ModelJson } from '../export/model-json.js';
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
 *
 * Only the tool's own files are replaced: entries of the old folder for which `isOwn(name)` is
 * false (a user's file that ended up in the folder) are moved, unchanged, into the new folder
 * before the swap, and moved back if anything fails, so they are never deleted. By default no
 * entry counts as the tool's. A user's entry with the name of a new file is refused.
 * File-system failures are AresErrors naming `dir`.
 */
export function replaceDirAtomic(dir: string, fill: (tmp: string) => void, isOwn: (name: string) => boolean = () => false): void {
  const stamp = `${process.pid}.${Date.now()}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.${stamp}.tmp`);
  const old = join(dirname(dir), `.${basename(dir)}.${stamp}.old`);
  withFsErrors(dir, () => {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
  });
  const moved: string[] = [];
  try {
    fill(tmp);
    if (existsSync(dir)) {
      const foreign = readdirSync(dir).filter((n) => !isOwn(n));
      const clash = foreign.find((n) => existsSync(join(tmp, n)));
      if (clash) {
        throw new AresError(`${clash} was not written by ares-ood but has the name of a file it writes; move it away and try again`, { file: join(dir, clash), exitCode: 2 });
      }
      for (const n of foreign) { renameSync(join(dir, n), join(tmp, n)); moved.push(n); }
      renameSync(dir, old);
    }
    renameSync(tmp, dir);
  } catch (err) {
    // Put everything back as it was: the old folder, then the user's entries inside it.
    try {
      if (existsSync(old) && !existsSync(dir)) renameSync(old, dir);
      for (const n of moved) renameSync(join(tmp, n), join(dir, n));
      rmSync(tmp, { recursive: true, force: true });
    } catch { /* the original error says what went wrong */ }
    throw fsError(err, dir);
  }
  // The old copy now holds only the tool's own files.
  withFsErrors(old, () => rmSync(old, { recursive: true, force: true }), 'cannot remove the replaced folder');
}

/** The files of a tfjs model folder the tool writes: model.json and the weight shards it lists. */
export function modelFolderNames(dir: string): Set<string> {
  const names = new Set<string>([MODEL_JSON, WEIGHTS_FILE]);
  try {
    const m = parseModelJson(readOrFail(join(dir, MODEL_JSON), 'model file', MAX_MODEL_JSON_BYTES).toString('utf8'), join(dir, MODEL_JSON));
    for (const p of shardPaths(m)) names.add(p.split('/')[0]);
  } catch { /* no (valid) model.json: only the fixed names */ }
  return names;
}

/** Writes model.json + weights.bin into `dir` (replacing it atomically; files it did not write stay). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const json = modelJsonFor(artifacts);
    const weights = joinWeights(artifacts.weightData);
    const own = modelFolderNames(dir);
    replaceDirAtomic(dir, (tmp) => {
      writeFileSync(join(tmp, MODEL_JSON), JSON.stringify(json));
      writeFileSync(join(tmp, WEIGHTS_FILE), weights);
    }, (name) => own.has(name));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  }));
}

/** What model.save hands a save handler (topology, float32 weight specs and bytes). */
async function saveArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return saved!;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

/**
 * The user's weights manifest with each entry renamed to the weight of `saved` (the model ares
 * built) that holds exactly its values, or null when that cannot cover the model: every saved
 * weight must equal a user weight of the same shape, and every user weight must be used once
 * (tfjs refuses weights no layer takes). A weight keeps its name when it can; one ares copied into
 * a new layer (the linear "head" that replaces a softmax Dense) takes the new layer's name. Only
 * names change: dtype, shape, quantisation and byte order stay the user's, so their shards serve
 * as they are.
 */
export function renamedManifest(saved: tf.io.ModelArtifacts, user: ModelJson, userShards: ArrayBuffer[]): ModelJson['weightsManifest'] | null {
  const specs = saved.weightSpecs ?? [];
  const userEntries = user.weightsManifest.flatMap((g) => g.weights);
  if (specs.length !== userEntries.length || specs.some((w) => w.dtype !== 'float32')) return null;
  const whole = new Uint8Array(userShards.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of userShards) { whole.set(new Uint8Array(b), at); at += b.byteLength; }
  let decoded: tf.NamedTensorMap;
  try {
    decoded = tf.io.decodeWeights(whole.buffer, userEntries);
  } catch {
    return null; // shards tfjs cannot read this way: keep the float32 copy
  }
  try {
    if (Object.keys(decoded).length !== userEntries.length) return null; // duplicate names
    const savedData = new Uint8Array(tf.io.concatenateArrayBuffers(Array.isArray(saved.weightData) ? saved.weightData : saved.weightData ? [saved.weightData] : []));
    const values = new Map<string, Float32Array>();
    let offset = 0;
    for (const w of specs) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      values.set(w.name, new Float32Array(savedData.slice(offset, offset + 4 * n).buffer));
      offset += 4 * n;
    }
    const nameFor = new Map<string, string>(); // user name → saved name
    const matches = (w: tf.io.WeightsManifestEntry, u: tf.io.WeightsManifestEntry) =>
      !nameFor.has(u.name) && sameShape(w.shape, u.shape) && sameValues(values.get(w.name)!, decoded[u.name].dataSync() as Float32Array);
    const unmatched: tf.io.WeightsManifestEntry[] = [];
    for (const w of specs) {
      const u = userEntries.find((e) => e.name === w.name);
      if (u && matches(w, u)) nameFor.set(u.name, w.name);
      else unmatched.push(w);
    }
    for (const w of unmatched) {
      const u = userEntries.find((e) => matches(w, e));
      if (!u) return null;
      nameFor.set(u.name, w.name);
    }
    return user.weightsManifest.map((g) => ({ paths: [...g.paths], weights: g.weights.map((e) => ({ ...e, name: nameFor.get(e.name)! })) }));
  } finally {
    tf.dispose(Object.values(decoded));
  }
}

/**
 * Saves `model` into `dir` like saveLayersModel, but when its weights are the user's (from the
 * model folder `userDir`: ares fit never trains) it keeps the user's weight files byte for byte —
 * uint8/float16-quantised weights stay quantised, so the run and the bundle are the size of the
 * user's model, not four times it. model.json takes the topology ares built and the user's manifest
 * (renamed where a weight moved to a new layer). Otherwise, the float32 copy saveLayersModel writes.
 */
export async function saveLayersModelKeepingWeights(model: tf.LayersModel, dir: string, userDir: string): Promise<void> {
  const artifacts = await saveArtifacts(model);
  const user = readModelDir(userDir);
  const manifest = renamedManifest(artifacts, user.m, user.shards);
  if (!manifest) {
    await saveLayersModel(model, dir);
    return;
  }
  const json: ModelJson = { ...modelJsonFor(artifacts), weightsManifest: manifest };
  const own = modelFolderNames(dir);
  replaceDirAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, MODEL_JSON), JSON.stringify(json));
    for (const p of shardPaths(user.m)) {
      mkdirSync(dirname(join(tmp, p)), { recursive: true });
      copyFileSync(join(userDir, p), join(tmp, p));
    }
  }, (name) => own.has(name));
}

/** Largest total of weight shards read when the manifest gives no bound (string weights). */
const MAX_WEIGHTS_BYTES = 2 * 1024 ** 3;

/**
 * Reads a regular file of at most `maxBytes` (refused before reading: a FIFO or a link to /dev/zero
 * is named, not read forever); "missing <what>" when it is not there.
 */
function readOrFail(path: string, what: string, maxBytes: number): Buffer {
  return readRegularFileSync(path, { what, maxBytes });
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/**
 * The most bytes the manifest's weights can take (quantised weights at their stored width), so no
 * shard larger than its manifest declares is read; MAX_WEIGHTS_BYTES when the manifest cannot say.
 */
function declaredWeightBytes(m: ModelJson): number {
  let total = 0;
  for (const w of m.weightsManifest.flatMap((g) => g.weights)) {
    const per = BYTES_PER[String(w?.quantization?.dtype ?? w?.dtype)];
    const shape = w?.shape;
    if (!per || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return MAX_WEIGHTS_BYTES;
    total += shape.reduce((a, b) => a * b, 1) * per;
  }
  return Math.min(total, MAX_WEIGHTS_BYTES);
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
  const m = parseModelJson(readOrFail(jsonPath, 'model file', MAX_MODEL_JSON_BYTES).toString('utf8'), jsonPath);
  // Shards larger than the manifest describes are refused before they are read into memory.
  const expected = expectedWeightBytes(m);
  const onDisk = shardPaths(m).reduce((n, p) => n + Math.max(0, sizeOf(join(dir, p))), 0);
  if (!Number.isNaN(expected) && onDisk > expected) {
    throw new AresError(`weight shards hold ${onDisk} bytes, model.json describes ${expected} (mismatched shard, or quantisation info that does not fit the data)`, { file: jsonPath });
  }
  let left = declaredWeightBytes(m);
  const shards = shardPaths(m).map((p) => {
    // Each shard may be at most what the manifest's weights still leave: checked before reading.
    const b = readOrFail(join(dir, p), 'weight shard', left);
    left -= b.byteLength;
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
