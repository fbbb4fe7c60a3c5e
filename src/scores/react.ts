/**
 * ReAct, rectified activations (Sun, Guo & Li, NeurIPS 2021, "ReAct: Out-of-distribution detection
 * with rectified activations"):
 *
 *   c        = the p-th percentile (p = 90) of every activation of the ID training features, all
 *              rows and dimensions pooled (numpy's linear interpolation, as OpenOOD's ReAct
 *              postprocessor takes np.percentile of the flattened features)
 *   h̄        = min(h, c) per activation
 *   score(x) = log Σ_k exp((h̄·W + b)_k), the energy score of the logits recomputed through the
 *              classifier's final linear layer (higher = more in-distribution)
 *
 * Fitted state: c, p and the head (W, b; src/scores/head.ts), so detector.json scores alone.
 * Features with negative values: only the upper clip is applied, as in the paper and OpenOOD;
 * negative activations pass unchanged (ReAct assumes post-ReLU features, where none are negative).
 * The paper sets c on ID data too (it uses the training set's activations).
 */
import { AresError, NotFittedError } from '../errors.js';
import { checkedFeatures, checkPercentile, headEnergy, headFromFitData, headFromJson, headMismatchWarning, headToJson, type HeadState } from './head.js';
import { type Detector, type LabelledOutputsIn, type OutputsIn, readMatrix } from './types.js';

export interface ReactParams {
  /** p in (0, 100): the clip is the p-th percentile of the ID training activations. Default 90. */
  percentile?: number;
}

export interface ReactState {
  percentile: number;
  /** c, the clip. */
  clip: number;
  head: HeadState;
}

export const REACT_DEFAULT_PERCENTILE = 90;

export function react(params: ReactParams = {}): Detector<OutputsIn, LabelledOutputsIn, ReactState> {
  const percentile = checkPercentile('react', params.percentile ?? REACT_DEFAULT_PERCENTILE);
  let state: ReactState | null = null;
  let warnings: string[] = [];
  return {
    name: 'react', params: { percentile }, requiresFit: true,
    get state() { return state; },
    get warnings() { return warnings; },
    fit(data) {
      if (!data.features) throw new AresError('react is fitted on penultimate features; the outputs have none');
      const x = readMatrix(data.features, 'react features');
      if (x.rows === 0) throw new AresError('react: no ID training features to set the clip on');
      const head = headFromFitData('react', data.head, x.cols);
      const mismatch = headMismatchWarning('react', head, x, readMatrix(data.logits, 'react logits'));
      warnings = mismatch ? [mismatch] : [];
      state = { percentile, clip: percentileOf(x.data, percentile), head };
      return this;
    },
    restore(s) {
      state = s;
      warnings = [];
      return this;
    },
    score(input) {
      if (!state) throw new NotFittedError('react');
      return reactScores(state, input);
    },
  };
}

/** Energy of the logits of the clipped features, per row. */
export function reactScores(s: ReactState, input: OutputsIn): Float64Array {
  if (!input.features) throw new AresError('react scores penultimate features; the outputs have none');
  const x = checkedFeatures('react', s.head, readMatrix(input.features, 'react features'));
  const d = x.cols;
  const h = new Float64Array(d), z = new Float64Array(s.head.classes);
  const out = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < d; i++) h[i] = Math.min(x.data[r * d + i], s.clip);
    out[r] = headEnergy(s.head, h, z);
  }
  return out;
}

/**
 * numpy's percentile (linear interpolation): with the n values sorted, position (n − 1)·p/100,
 * interpolated between its two neighbours. Found by selection on a copy (O(n), no full sort: the
 * pooled activations of a training set are millions of values).
 */
export function percentileOf(values: Float32Array | Float64Array, p: number): number {
  const n = values.length;
  if (n === 0) throw new AresError('percentile of no values');
  const a = values.slice();
  const pos = ((n - 1) * p) / 100;
  const lo = Math.floor(pos);
  const below = select(a, lo);
  if (lo + 1 >= n) return below;
  // After select, a[lo+1..] holds the values ≥ a[lo]: the next order statistic is their minimum.
  let above = Infinity;
  for (let i = lo + 1; i < n; i++) if (a[i] < above) above = a[i];
  return below + (pos - lo) * (above - below);
}

/** Rearranges `a` so a[k] is its k-th smallest value, smaller ones before it, larger after (Hoare quickselect). */
function select(a: Float32Array | Float64Array, k: number): number {
  let left = 0, right = a.length - 1;
  while (right > left) {
    // Median of three as the pivot: sorted or constant input stays linear.
    const mid = (left + right) >> 1;
    const pivot = median3(a[left], a[mid], a[right]);
    let i = left, j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

const median3 = (x: number, y: number, z: number) => Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));

export function reactStateToJson(s: ReactState): Record<string, unknown> {
  return { percentile: s.percentile, clip: s.clip, head: headToJson(s.head) };
}

export function reactStateFromJson(json: unknown, file?: string): ReactState {
  const o = json as Record<string, unknown> | null;
  const percentile = Number(o?.percentile), clip = Number(o?.clip);
  try {
    checkPercentile('react state', percentile);
    if (!Number.isFinite(clip)) throw new AresError('"clip" must be a finite number');
    return { percentile, clip, head: headFromJson(o?.head, 'react state') };
  } catch (err) {
    throw new AresError(`react state: ${(err as Error).message.replace(/^react state: /, '')}`, { file });
  }
}
