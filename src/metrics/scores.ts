import { AresError } from '../errors.js';

/** Scores as the metrics accept them. Higher = more in-distribution, always (design rule 1). */
export type Scores = Float64Array | Float32Array | readonly number[];

/**
 * Copies scores into a Float64Array sorted ascending, after checking they are usable:
 * non-empty and free of NaN (NaN has no place in an order). ±Infinity is kept: it orders fine.
 */
export function sortedAscending(scores: Scores, what: string): Float64Array {
  if (scores.length === 0) throw new AresError(`${what}: no scores (empty list)`);
  const out = Float64Array.from(scores as ArrayLike<number>);
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i])) throw new AresError(`${what}: score ${i} is NaN`);
  }
  // Float64Array.prototype.sort is numeric, unlike Array.prototype.sort.
  return out.sort();
}

/** Number of entries of an ascending array that are >= t (binary search). */
export function countAtLeast(asc: Float64Array, t: number): number {
  let lo = 0, hi = asc.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (asc[mid] < t) lo = mid + 1; else hi = mid;
  }
  return asc.length - lo;
}

/** Number of entries of an ascending array that are <= t (binary search). */
export function countAtMost(asc: Float64Array, t: number): number {
  let lo = 0, hi = asc.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (asc[mid] <= t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * The count k that a rate `rate` of n items requires: the smallest k with k/n >= rate.
 * The small slack absorbs rounding in rate*n (0.95*20 is 19.000000000000004 in floating point).
 */
export function requiredCount(rate: number, n: number): number {
  return Math.min(n, Math.max(1, Math.ceil(rate * n - 1e-9)));
}

export function checkRate(rate: number, name: string): void {
  if (!(rate > 0 && rate <= 1)) throw new AresError(`${name} must be in (0, 1], got ${rate}`, { exitCode: 2 });
}
