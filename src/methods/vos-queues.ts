/**
 * VOS's per-class feature queues. Besides the features, a queue keeps running sums (per-class Σx and
 * the pooled Σxxᵀ, in double precision) updated as features enter and leave, so the Gaussian of a
 * full queue set costs O(K·d²) per step instead of O(K·capacity·d²): 10 classes × 1,000 features ×
 * 128² would otherwise be 80 M multiply-adds every training step. A feature leaves the sums as the
 * very float32 value it entered them with, so the sums do not drift from the queue's content beyond
 * double-precision rounding.
 * The sums are a cache (`stats`), tied to the `data` array they were computed from: a queue restored
 * from a checkpoint by replacing data/counts/next (stats absent or stale) rebuilds them on first use.
 */
import { AresError } from '../errors.js';
import type { ClassGaussians } from '../util/linalg.js';
import { checkLabels, type Matrix2D, readMatrix } from '../scores/types.js';

/** Per-class ring buffers of features, with running sums. Mutated in place by enqueueFeatures. */
export interface ClassQueues {
  numClasses: number;
  dim: number;
  capacity: number;
  /** [K, capacity, d] */
  data: Float32Array;
  /** Features held per class (<= capacity). */
  counts: Int32Array;
  /** Slot the next feature of each class goes to; when full, the oldest one. */
  next: Int32Array;
  /** Running sums, derived from data/counts; not part of a checkpoint. */
  stats?: QueueStats;
}

export interface QueueStats {
  /** The data array these sums describe; any other array means they are stale. */
  owner: Float32Array;
  /** Σx per class over the held features: [K, d] */
  sums: Float64Array;
  /** Σxxᵀ over all held features, lower triangle used: [d, d] */
  outer: Float64Array;
}

export function createClassQueues(numClasses: number, dim: number, capacity = 1000): ClassQueues {
  if (!(numClasses >= 1 && dim >= 1 && capacity >= 2)) {
    throw new AresError(`VOS queues need >= 1 class, >= 1 dimension and capacity >= 2 (got ${numClasses}, ${dim}, ${capacity})`);
  }
  return {
    numClasses, dim, capacity,
    data: new Float32Array(numClasses * capacity * dim),
    counts: new Int32Array(numClasses),
    next: new Int32Array(numClasses),
  };
}

/** Adds sign·x to the class sum and sign·xxᵀ to the pooled outer-product sum. */
function accumulate(st: QueueStats, d: number, c: number, x: Float32Array, sign: 1 | -1): void {
  for (let i = 0; i < d; i++) {
    const xi = sign * x[i];
    st.sums[c * d + i] += xi;
    if (xi === 0) continue;
    for (let j = 0; j <= i; j++) st.outer[i * d + j] += xi * x[j];
  }
}

/** The queue's running sums, rebuilt from its features when missing or stale. */
function statsOf(q: ClassQueues): QueueStats {
  if (q.stats && q.stats.owner === q.data) return q.stats;
  const d = q.dim;
  const st: QueueStats = { owner: q.data, sums: new Float64Array(q.numClasses * d), outer: new Float64Array(d * d) };
  // Until a queue is full its features fill slots 0..count−1; once full, every slot.
  for (let c = 0; c < q.numClasses; c++) {
    for (let k = 0; k < q.counts[c]; k++) {
      const at = (c * q.capacity + k) * d;
      accumulate(st, d, c, q.data.subarray(at, at + d), 1);
    }
  }
  q.stats = st;
  return st;
}

/** Appends each feature row to its class's queue, dropping that class's oldest once full (FIFO). */
export function enqueueFeatures(q: ClassQueues, features: Matrix2D, labels: ArrayLike<number>): void {
  const x = readMatrix(features, 'VOS features');
  if (x.cols !== q.dim) throw new AresError(`VOS queues hold ${q.dim}-d features, got ${x.cols}-d`);
  checkLabels(labels, x.rows, q.numClasses, 'VOS enqueue');
  const d = q.dim;
  const st = statsOf(q);
  for (let r = 0; r < x.rows; r++) {
    const c = labels[r];
    const at = (c * q.capacity + q.next[c]) * d;
    const slot = q.data.subarray(at, at + d);
    if (q.counts[c] === q.capacity) accumulate(st, d, c, slot, -1);
    slot.set(x.data.subarray(r * d, (r + 1) * d));
    accumulate(st, d, c, slot, 1);
    q.next[c] = (q.next[c] + 1) % q.capacity;
    q.counts[c] = Math.min(q.capacity, q.counts[c] + 1);
  }
}

export function queuesFull(q: ClassQueues): boolean {
  return q.counts.every((n) => n === q.capacity);
}

/** VOS adds its loss from the configured start epoch on, and only once every class queue is full. */
export function vosLossActive(epoch: number, startEpoch: number, q: ClassQueues): boolean {
  return epoch >= startEpoch && queuesFull(q);
}

/**
 * Class means μ_c and the shared covariance of the full queues, as VOS fits them:
 * Σ = (1/N)·Σ_c Σ_i (x_i − μ_c)(x_i − μ_c)ᵀ + jitter·I = (Σxxᵀ − Σ_c n_c·μ_c μ_cᵀ)/N + jitter·I.
 */
export function queueGaussians(q: ClassQueues, jitter = 1e-4): ClassGaussians {
  if (!queuesFull(q)) throw new AresError('VOS: the class queues are not full yet; no Gaussian to sample from');
  const { numClasses: K, dim: d, capacity: n } = q;
  const st = statsOf(q);
  const means = st.sums.map((s) => s / n);
  const covariance = new Float64Array(d * d);
  const N = K * n;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let between = 0;
      for (let c = 0; c < K; c++) between += means[c * d + i] * means[c * d + j];
      const v = (st.outer[i * d + j] - n * between) / N + (i === j ? jitter : 0);
      covariance[i * d + j] = v;
      covariance[j * d + i] = v;
    }
  }
  return { numClasses: K, dim: d, means, counts: new Int32Array(K).fill(n), covariance };
}
