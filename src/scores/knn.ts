/**
 * KNN (Sun et al., 2022, "Out-of-distribution detection with deep nearest neighbors"):
 *
 *   z = h / ‖h‖₂ (penultimate features, L2-normalised), bank B = {z_i} of ID training features,
 *   score(x) = −‖z − z_(k)‖₂, the negative distance to the k-th nearest neighbour of z in B.
 *
 * Higher = more in-distribution. Computed as d² = ‖z‖² − max_k(2·z·b − ‖b‖²) with one matrix product
 * per batch (tfjs), then the k-th largest value per row (tf.topk).
 *
 * k and the bank: the paper uses k = 50 with the full CIFAR-10 training set (50,000 images) and shows
 * that k scales with the fraction α of the training set kept (ImageNet: k = 1000 with all of it,
 * k = 10 with α = 1%), because the k-th neighbour among αN samples sits where the (k/α)-th does among
 * N. Here the bank is capped at `bankSize` = 10,000 rows (so an exported bundle stays ~1.8 MB with
 * 128-d features), subsampled uniformly with a seeded permutation, and the default k = 10 is the
 * paper's k = 50 scaled to that bank (10,000 / 50,000 · 50). Both are parameters.
 *
 * Storage: each bank row is stored as int8 with one float32 scale (|error| ≤ max|z_j|/254 per value),
 * base64 in JSON; on restore the rows are dequantised and re-normalised to unit length. The
 * quantised bank is the state itself, so a restored detector scores exactly like the fitted one.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError, NotFittedError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { dequantizeRowsInt8, quantizeRowsInt8, type Int8Rows } from './codec.js';
import { type Detector, type LabelledOutputsIn, type Matrix, type OutputsIn, readMatrix } from './types.js';

export interface KnnParams {
  /** Which neighbour's distance is the score. Default 10 (see above). */
  k?: number;
  /** Most ID training features kept in the bank. Default 10,000. */
  bankSize?: number;
  /** Seed of the bank's subsample. Default 0. */
  seed?: number;
}

/** The fitted state: plain JSON (the bank in int8, base64). */
export interface KnnState {
  k: number;
  /** Feature width. */
  dim: number;
  /** ID training images the bank was drawn from. */
  trainCount: number;
  bank: Int8Rows;
}

export const KNN_DEFAULTS = { k: 10, bankSize: 10_000, seed: 0 } as const;
const QUERY_BATCH = 512;

export function knn(params: KnnParams = {}): Detector<OutputsIn, LabelledOutputsIn, KnnState> {
  const k = params.k ?? KNN_DEFAULTS.k;
  const bankSize = params.bankSize ?? KNN_DEFAULTS.bankSize;
  const seed = params.seed ?? KNN_DEFAULTS.seed;
  if (!Number.isInteger(k) || k < 1) throw new AresError(`knn: k must be a positive integer, got ${k}`);
  if (!Number.isInteger(bankSize) || bankSize < k) throw new AresError(`knn: bankSize must be an integer ≥ k (${k}), got ${bankSize}`);
  let state: KnnState | null = null;
  let bank: KnnBank | null = null;
  return {
    name: 'knn', params: { k, bankSize, seed }, requiresFit: true,
    get state() { return state; },
    fit(data) {
      state = fitKnn(data, k, bankSize, seed);
      bank = decodeKnnBank(state);
      return this;
    },
    restore(s) {
      bank = decodeKnnBank(s);
      state = s;
      return this;
    },
    score(input) {
      if (!state || !bank) throw new NotFittedError('knn');
      if (!input.features) throw new AresError('knn scores penultimate features; the outputs have none');
      return knnScores(bank, readMatrix(input.features, 'knn features'));
    },
  };
}

function fitKnn(data: LabelledOutputsIn, k: number, bankSize: number, seed: number): KnnState {
  if (!data.features) throw new AresError('knn is fitted on penultimate features; the outputs have none');
  const x = readMatrix(data.features, 'knn features');
  if (x.rows < k) throw new AresError(`knn: k = ${k} needs at least ${k} ID training images, got ${x.rows}`);
  const picked = x.rows <= bankSize ? Int32Array.from({ length: x.rows }, (_, i) => i) : new Rng(seed).permutation(x.rows).slice(0, bankSize).sort();
  const d = x.cols;
  const rows = new Float32Array(picked.length * d);
  picked.forEach((r, i) => rows.set(x.data.subarray(r * d, (r + 1) * d), i * d));
  normalizeRows(rows, picked.length, d);
  return { k, dim: d, trainCount: x.rows, bank: quantizeRowsInt8(rows, picked.length, d) };
}

/** Unit-length rows in place; an all-zero row (every unit dead) stays zero. */
function normalizeRows(a: Float32Array | Float64Array, rows: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += a[r * d + j] * a[r * d + j];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) a[r * d + j] *= inv;
  }
}

/** The bank ready to score with: unit rows [M, d], ‖b‖² per row, and k. */
export interface KnnBank {
  k: number;
  dim: number;
  rows: number;
  data: Float32Array;
  sqNorms: Float32Array;
}

export function decodeKnnBank(s: KnnState): KnnBank {
  const { data, rows, cols } = dequantizeRowsInt8(s.bank, 'knn bank');
  if (cols !== s.dim) throw new AresError(`knn bank: rows have ${cols} values, the state says dim ${s.dim}`);
  if (!Number.isInteger(s.k) || s.k < 1 || s.k > rows) throw new AresError(`knn: k = ${s.k} must be in [1, ${rows}] (the bank's rows)`);
  normalizeRows(data, rows, cols);
  const sqNorms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) { let t = 0; for (let j = 0; j < cols; j++) t += data[r * cols + j] ** 2; sqNorms[r] = t; }
  return { k: s.k, dim: cols, rows, data, sqNorms };
}

/** −(distance of each row's normalised features to its k-th nearest bank row). */
export function knnScores(bank: KnnBank, x: Matrix): Float64Array {
  if (x.cols !== bank.dim) throw new AresError(`knn was fitted on ${bank.dim}-d features, got ${x.cols}-d`);
  const out = new Float64Array(x.rows);
  const z = Float32Array.from(x.data);
  normalizeRows(z, x.rows, x.cols);
  if (!syncReadable()) return knnScoresPlain(bank, z, x.rows, out);
  const B = tf.tensor2d(bank.data, [bank.rows, bank.dim]);
  const bn = tf.tensor1d(bank.sqNorms);
  try {
    for (let s = 0; s < x.rows; s += QUERY_BATCH) {
      const n = Math.min(QUERY_BATCH, x.rows - s);
      const best = tf.tidy(() => {
        const q = tf.tensor2d(z.subarray(s * x.cols, (s + n) * x.cols), [n, x.cols]);
        const t = tf.sub(tf.mul(tf.matMul(q, B, false, true), 2), bn);
        return tf.topk(t, bank.k, true).values.slice([0, bank.k - 1], [n, 1]).dataSync();
      });
      for (let i = 0; i < n; i++) {
        let zz = 0;
        for (let j = 0; j < x.cols; j++) zz += z[(s + i) * x.cols + j] ** 2;
        out[s + i] = -Math.sqrt(Math.max(0, zz - best[i]));
      }
    }
  } finally {
    tf.dispose([B, bn]);
  }
  return out;
}

/**
 * Whether tfjs can read the current backend's tensors synchronously: not webgpu in Node (no
 * OffscreenCanvas), where `ares predict` scores knn on a few images at a time. ares eval and fit
 * score knn on wasm instead (src/eval/evaluate.ts evaluateAsync).
 */
function syncReadable(): boolean {
  return tf.getBackend() !== 'webgpu' || typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined';
}

/** knnScores in plain JavaScript (unit query rows `z`): the same formula, the k-th largest by a partial sort. */
function knnScoresPlain(bank: KnnBank, z: Float32Array, rows: number, out: Float64Array): Float64Array {
  const d = bank.dim;
  const t = new Float64Array(bank.rows);
  for (let i = 0; i < rows; i++) {
    let zz = 0;
    for (let j = 0; j < d; j++) zz += z[i * d + j] ** 2;
    for (let r = 0; r < bank.rows; r++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += z[i * d + j] * bank.data[r * d + j];
      t[r] = 2 * dot - bank.sqNorms[r];
    }
    out[i] = -Math.sqrt(Math.max(0, zz - kthLargest(t, bank.k)));
  }
  return out;
}

/** The k-th largest value of `a` (k from 1), reordering `a` (quickselect). */
function kthLargest(a: Float64Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  const want = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) { const tmp = a[i]; a[i] = a[j]; a[j] = tmp; i++; j--; }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else break;
  }
  return a[want];
}

/** Checks a parsed JSON knn state (from detector.json / ares.json); `file` names the source in errors. */
export function knnStateFromJson(json: unknown, file?: string): KnnState {
  const o = json as Record<string, unknown> | null;
  const s = { k: Number(o?.k), dim: Number(o?.dim), trainCount: Number(o?.trainCount), bank: o?.bank as Int8Rows };
  if (!Number.isInteger(s.trainCount) || s.trainCount < 1) throw new AresError('knn state: "trainCount" must be a positive integer', { file });
  try {
    decodeKnnBank(s);
  } catch (err) {
    throw new AresError(`knn state: ${(err as Error).message}`, { file });
  }
  return { k: s.k, dim: s.dim, trainCount: s.trainCount, bank: { rows: s.bank.rows, cols: s.bank.cols, q: s.bank.q, scale: s.bank.scale } };
}
