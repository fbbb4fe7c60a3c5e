/**
 * Expansion stage (paper §3.3.2, Eq. 3): manifold mixup of the batch's penultimate features,
 * x̃ = λ·h_i + (1 − λ)·h_π(i), λ ~ Beta(α2, α2) per pair (α2 = 2), π a random permutation, with
 * no gradient. The mixed vectors enter a FIFO pool of the last M = 10,000 (the set X̃ that the
 * Estimation stage models).
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { stopGradient } from './stop-gradient.js';

export interface MixupPlan {
  /** λ_i for each row: [B] */
  lambda: Float32Array;
  /** partner row π(i): [B] */
  partner: Int32Array;
}

/** The random part of one mixup: λ_i ~ Beta(α, α) and a permutation of the B rows. */
export function mixupPlan(batch: number, rng: Rng, alpha = 2): MixupPlan {
  if (!(alpha > 0)) throw new AresError(`mixup alpha must be > 0, got ${alpha}`);
  const lambda = new Float32Array(batch);
  for (let i = 0; i < batch; i++) lambda[i] = rng.beta(alpha, alpha);
  return { lambda, partner: rng.permutation(batch) };
}

/** x̃ = λ ⊙ h + (1 − λ) ⊙ h[π], gradient stopped. h: [B, d] -> [B, d] */
export function applyMixup(h: tf.Tensor2D, plan: MixupPlan): tf.Tensor2D {
  const [b] = h.shape;
  if (plan.lambda.length !== b || plan.partner.length !== b) {
    throw new AresError(`mixup plan is for ${plan.lambda.length} rows, features have ${b}`);
  }
  return tf.tidy(() => {
    const lam = tf.tensor2d(plan.lambda, [b, 1]); // [B, 1]
    const partners = tf.gather(h, tf.tensor1d(plan.partner, 'int32')); // [B, d]
    return stopGradient(tf.add(tf.mul(lam, h), tf.mul(tf.sub(1, lam), partners)) as tf.Tensor2D);
  });
}

/** Feature mixup for one batch. h: [B, d] -> mixed [B, d], no gradient. */
export function mixupFeatures(h: tf.Tensor2D, rng: Rng, alpha = 2): tf.Tensor2D {
  return applyMixup(h, mixupPlan(h.shape[0], rng, alpha));
}

/** The pool's running moments are recomputed from scratch after this many pool-fulls of insertions. */
const EXACT_EVERY = 4;

/** What a checkpoint keeps of a pool; restoring it continues bit-identically. */
export interface FeaturePoolState {
  dim: number;
  capacity: number;
  /** The vectors, oldest first: [size, dim] */
  data: Float32Array;
  /** Running moments (see FeaturePool): shift [dim], Σ(x − shift) [dim], Σ(x − shift)(x − shift)ᵀ [dim·dim] */
  shift: Float64Array;
  sum: Float64Array;
  sumSq: Float64Array;
  addsSinceExact: number;
}

/**
 * FIFO pool of the last `capacity` feature vectors in a ring buffer (no tensor growth).
 * Mean and covariance are kept as running sums about a shift point, updated as vectors enter
 * and leave (O(d²) per vector instead of O(M·d²) per step), and recomputed exactly every
 * EXACT_EVERY·capacity insertions (re-centred on the current mean) so rounding cannot drift.
 */
export class FeaturePool {
  readonly dim: number;
  readonly capacity: number;
  private readonly buf: Float32Array;
  private head = 0; // next slot to write
  private count = 0;
  private shift: Float64Array;
  private sum: Float64Array;
  private sumSq: Float64Array; // upper triangle used, i <= j
  private addsSinceExact = 0;

  constructor(dim: number, capacity = 10_000) {
    if (!Number.isInteger(dim) || dim < 1) throw new AresError(`feature pool dimension must be a positive integer, got ${dim}`);
    if (!Number.isInteger(capacity) || capacity < 2) throw new AresError(`feature pool size must be an integer >= 2, got ${capacity}`);
    this.dim = dim;
    this.capacity = capacity;
    this.buf = new Float32Array(dim * capacity);
    this.shift = new Float64Array(dim);
    this.sum = new Float64Array(dim);
    this.sumSq = new Float64Array(dim * dim);
  }

  get size(): number { return this.count; }

  /** Adds rows (oldest evicted first). x: [n, d] as a tensor or flat array. */
  add(x: tf.Tensor2D | Float32Array): void {
    const data = x instanceof Float32Array ? x : (x.dataSync() as Float32Array);
    if (data.length % this.dim !== 0) throw new AresError(`feature pool: ${data.length} values is not a whole number of ${this.dim}-vectors`);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new AresError('feature pool: non-finite feature value (the model has diverged)');
    }
    const d = this.dim;
    for (let r = 0; r < data.length / d; r++) {
      const slot = this.head * d;
      if (this.count === 0) this.shift.set(data.subarray(r * d, (r + 1) * d));
      if (this.count === this.capacity) this.accumulate(this.buf.subarray(slot, slot + d), -1);
      this.buf.set(data.subarray(r * d, (r + 1) * d), slot);
      this.accumulate(this.buf.subarray(slot, slot + d), 1);
      this.head = (this.head + 1) % this.capacity;
      this.count = Math.min(this.count + 1, this.capacity);
      if (++this.addsSinceExact >= EXACT_EVERY * this.capacity) this.recomputeExact();
    }
  }

  private accumulate(v: Float32Array, sign: 1 | -1): void {
    const d = this.dim;
    const c = new Float64Array(d);
    for (let i = 0; i < d; i++) { c[i] = v[i] - this.shift[i]; this.sum[i] += sign * c[i]; }
    for (let i = 0; i < d; i++) {
      const ci = sign * c[i];
      if (ci === 0) continue; // post-ReLU features are often exactly 0
      const row = i * d;
      for (let j = i; j < d; j++) this.sumSq[row + j] += ci * c[j];
    }
  }

  private recomputeExact(): void {
    const mean = this.moments().mean;
    this.shift = mean;
    this.sum.fill(0);
    this.sumSq.fill(0);
    // Oldest first, so a pool restored from a checkpoint (laid out differently) sums identically.
    const start = (this.head - this.count + this.capacity) % this.capacity;
    for (let k = 0; k < this.count; k++) {
      const slot = ((start + k) % this.capacity) * this.dim;
      this.accumulate(this.buf.subarray(slot, slot + this.dim), 1);
    }
    this.addsSinceExact = 0;
  }

  /** Row `i` counted from the oldest (0) to the newest (size − 1). */
  vector(i: number): Float32Array {
    if (!(i >= 0 && i < this.count)) throw new AresError(`feature pool index ${i} out of range 0..${this.count - 1}`);
    const slot = (this.head - this.count + i + this.capacity) % this.capacity;
    return this.buf.slice(slot * this.dim, (slot + 1) * this.dim);
  }

  /** All rows, oldest first: [size, d] */
  contents(): Float32Array {
    const out = new Float32Array(this.count * this.dim);
    const start = (this.head - this.count + this.capacity) % this.capacity;
    const firstPart = Math.min(this.count, this.capacity - start);
    out.set(this.buf.subarray(start * this.dim, (start + firstPart) * this.dim));
    out.set(this.buf.subarray(0, (this.count - firstPart) * this.dim), firstPart * this.dim);
    return out;
  }

  /** Mean [d] and covariance [d·d] (1/N, paper Eq. 4–5) of the pool. */
  moments(): { mean: Float64Array; cov: Float64Array; count: number } {
    const n = this.count;
    if (n === 0) throw new AresError('feature pool is empty: no features to estimate a Gaussian from');
    const d = this.dim;
    const m = new Float64Array(d);
    for (let i = 0; i < d; i++) m[i] = this.sum[i] / n;
    const cov = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.sumSq[i * d + j] / n - m[i] * m[j];
        cov[i * d + j] = v;
        cov[j * d + i] = v;
      }
    }
    const mean = new Float64Array(d);
    for (let i = 0; i < d; i++) mean[i] = this.shift[i] + m[i];
    return { mean, cov, count: n };
  }

  state(): FeaturePoolState {
    return {
      dim: this.dim, capacity: this.capacity, data: this.contents(),
      shift: this.shift.slice(), sum: this.sum.slice(), sumSq: this.sumSq.slice(), addsSinceExact: this.addsSinceExact,
    };
  }

  static fromState(s: FeaturePoolState): FeaturePool {
    const pool = new FeaturePool(s.dim, s.capacity);
    const n = s.data.length / s.dim;
    if (!Number.isInteger(n) || n > s.capacity || s.shift.length !== s.dim || s.sum.length !== s.dim || s.sumSq.length !== s.dim * s.dim) {
      throw new AresError(`feature pool state is inconsistent (dim ${s.dim}, capacity ${s.capacity}, ${s.data.length} values)`);
    }
    pool.buf.set(s.data);
    pool.count = n;
    pool.head = n % s.capacity;
    pool.shift.set(s.shift);
    pool.sum.set(s.sum);
    pool.sumSq.set(s.sumSq);
    pool.addsSinceExact = s.addsSinceExact;
    return pool;
  }
}
