/**
 * The classifier's final linear layer as the activation-shaping scores (ReAct, ASH, SCALE) carry it:
 * they change the penultimate features and recompute the logits, logits = h·W + b, so their fitted
 * state holds W and b and an exported bundle scores without reaching into the model's weights.
 * Stored as float32, the precision the model holds them in. Pure (no tfjs): the loader uses it.
 */
import { AresError } from '../errors.js';
import { decodeF32, encodeF32 } from './codec.js';
import type { LinearHead, Matrix } from './types.js';

/** W [dim, classes] row-major and b [classes] (null: no bias), in float32. */
export interface HeadState {
  dim: number;
  classes: number;
  kernel: Float32Array;
  bias: Float32Array | null;
}

/** The head of `data` as a HeadState, checked against the features' width; `name` is the detector's. */
export function headFromFitData(name: string, head: LinearHead | undefined, featureDim: number | null): HeadState {
  if (!head) {
    throw new AresError(`${name} recomputes the logits from shaped features, so it needs the classifier's final linear layer (features → logits); this model's head is not one Dense/MatMul layer with known weights`);
  }
  const { kernel, bias } = head;
  if (featureDim !== null && kernel.rows !== featureDim) {
    throw new AresError(`${name}: the head's kernel is [${kernel.rows}, ${kernel.cols}] but the features are ${featureDim}-d`);
  }
  if (kernel.data.length !== kernel.rows * kernel.cols) throw new AresError(`${name}: the head's kernel has ${kernel.data.length} values, not ${kernel.rows}×${kernel.cols}`);
  if (bias && bias.length !== kernel.cols) throw new AresError(`${name}: the head's bias has ${bias.length} values for ${kernel.cols} classes`);
  return { dim: kernel.rows, classes: kernel.cols, kernel: Float32Array.from(kernel.data), bias: bias ? Float32Array.from(bias) : null };
}

/**
 * log Σ_k exp(z_k) with z = h·W + b for one feature row h (length dim); `z` is scratch of length
 * `classes`. Zero features are skipped (ASH zeroes 90% of them).
 */
export function headEnergy(head: HeadState, h: ArrayLike<number>, z: Float64Array): number {
  const { dim, classes: K, kernel, bias } = head;
  for (let k = 0; k < K; k++) z[k] = bias ? bias[k] : 0;
  for (let i = 0; i < dim; i++) {
    const v = h[i];
    if (v === 0) continue;
    const off = i * K;
    for (let k = 0; k < K; k++) z[k] += v * kernel[off + k];
  }
  let max = -Infinity;
  for (let k = 0; k < K; k++) if (z[k] > max) max = z[k];
  let sum = 0;
  for (let k = 0; k < K; k++) sum += Math.exp(z[k] - max);
  return max + Math.log(sum);
}

/**
 * A line for the fit's warnings when h·W + b does not reproduce the model's logits (up to one
 * constant per row, as log-probabilities differ from logits) on the first rows: the features are
 * then not the head's input (e.g. another --features-layer), and the shaped logits mean nothing.
 */
export function headMismatchWarning(name: string, head: HeadState, features: Matrix, logits: Matrix): string | null {
  const rows = Math.min(features.rows, logits.rows, 64);
  if (logits.cols !== head.classes) return `${name}: the head has ${head.classes} outputs but the model gives ${logits.cols} logits`;
  const z = new Float64Array(head.classes);
  let worst = 0;
  for (let r = 0; r < rows; r++) {
    const h = features.data.subarray(r * head.dim, (r + 1) * head.dim);
    headEnergy(head, h, z); // fills z with h·W + b
    let shift = 0, scale = 1;
    for (let k = 0; k < head.classes; k++) shift += logits.data[r * head.classes + k] - z[k];
    shift /= head.classes;
    for (let k = 0; k < head.classes; k++) scale = Math.max(scale, Math.abs(z[k]));
    for (let k = 0; k < head.classes; k++) worst = Math.max(worst, Math.abs(logits.data[r * head.classes + k] - z[k] - shift) / scale);
  }
  return worst > 1e-3
    ? `${name}: features·W + b differs from the model's logits by up to ${worst.toPrecision(2)} (relative); the features are probably not the final layer's input, so ${name}'s recomputed logits do not match the model's`
    : null;
}

export function headToJson(h: HeadState): Record<string, unknown> {
  return { dim: h.dim, classes: h.classes, kernel: encodeF32(h.kernel), bias: h.bias ? encodeF32(h.bias) : null };
}

/** Reads what headToJson wrote; throws AresError (naming `what`) when it is malformed. */
export function headFromJson(json: unknown, what: string): HeadState {
  const o = json as Record<string, unknown> | null;
  const dim = Number(o?.dim), classes = Number(o?.classes);
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(classes) || classes < 1) throw new AresError(`${what}: head needs positive integers dim and classes`);
  return {
    dim, classes,
    kernel: decodeF32(o?.kernel, dim * classes, `${what}: head kernel`),
    bias: o?.bias === null || o?.bias === undefined ? null : decodeF32(o.bias, classes, `${what}: head bias`),
  };
}

/** The features of `o` checked against the head's width; `name` is the detector's. */
export function checkedFeatures(name: string, head: HeadState, x: Matrix): Matrix {
  if (x.cols !== head.dim) throw new AresError(`${name} was fitted on ${head.dim}-d features, got ${x.cols}-d`);
  return x;
}

/** A percentile in (0, 100) or an AresError naming the detector. */
export function checkPercentile(name: string, p: number): number {
  if (!(p > 0 && p < 100)) throw new AresError(`${name}: percentile must be in (0, 100), got ${p}`);
  return p;
}
