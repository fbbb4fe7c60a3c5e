/**
 * VOS's outlier stage (Du et al., 2022, "Virtual Outlier Synthesis"), as plain functions the training
 * loop calls once per step:
 *
 *   enqueueFeatures(q, h, y)               // h: [B, d] penultimate features (detached), y: [B]
 *   if (vosLossActive(epoch, start, q)) {
 *     const v = sampleVirtualOutliers(q, rng)        // v: [K·select, d], lowest likelihood per class
 *     loss += VOS_DEFAULTS.lossWeight * vosUncertaintyLoss(logits, model.head(v), params)
 *   }
 *
 * Per class, a FIFO queue keeps the last `queueSize` (1,000) features. Once every queue is full, a
 * Gaussian with the class means and one shared covariance (class-centred features, divided by N,
 * + 1e-4·I) is fitted; per class, `candidates` (10,000) samples are drawn from N(μ_c, Σ) and the
 * `select` (1) with the lowest likelihood are the virtual outliers (drawn `radial`ly by default: the
 * same law as drawing every candidate vector, far cheaper; see CandidateSampling). No gradient flows
 * into the samples: they are constants that reach the loss through f_cls only, as in VOS.
 * The uncertainty loss is VOS's logistic regression: a learnable 1→2 linear layer on −E (with
 * learnable w_k, −E = log Σ relu(w_k) exp(f_k)), cross-entropy with label 1 for ID samples and 0 for
 * virtual outliers.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { negativeEnergy } from '../scores/energy.js';
import { choleskyWithJitter } from '../util/linalg.js';
import type { Matrix } from '../scores/types.js';
import { type ClassQueues, queueGaussians } from './vos-queues.js';

export { type ClassQueues, createClassQueues, enqueueFeatures, queuesFull, queueGaussians, vosLossActive } from './vos-queues.js';

export const VOS_DEFAULTS = {
  /** Features kept per class (VOS: sample_number). */
  queueSize: 1000,
  /** Candidates drawn per class (VOS: sample_from). */
  candidates: 10000,
  /** Lowest-likelihood candidates kept per class (VOS: select). */
  select: 1,
  /** Added to the shared covariance's diagonal. */
  covarianceJitter: 1e-4,
  /** Weight of the uncertainty loss in the total loss (VOS: loss_weight). */
  lossWeight: 0.1,
} as const;

/** Fills z with standard normals, two per pair of uniforms (Box–Muller, cos and sin). */
function fillNormals(rng: Rng, z: Float64Array): void {
  for (let i = 0; i < z.length; i += 2) {
    let u = rng.uniform();
    while (u <= 1e-300) u = rng.uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * rng.uniform();
    z[i] = radius * Math.cos(angle);
    if (i + 1 < z.length) z[i + 1] = radius * Math.sin(angle);
  }
}

/** x = μ + L·z */
function affine(mean: ArrayLike<number>, L: Float64Array, z: Float64Array, out: Float64Array | Float32Array): void {
  const d = z.length;
  for (let i = 0; i < d; i++) {
    let s = mean[i];
    for (let k = 0; k <= i; k++) s += L[i * d + k] * z[k];
    out[i] = s;
  }
}

/** log N(x; μ, LLᵀ) for x = μ + L·z: −½(d·log 2π + log|Σ| + ‖z‖²). */
function logLikelihoodOfZ(L: Float64Array, z: Float64Array): number {
  const d = z.length;
  let logDet = 0, sq = 0;
  for (let i = 0; i < d; i++) { logDet += 2 * Math.log(L[i * d + i]); sq += z[i] * z[i]; }
  return -0.5 * (d * Math.log(2 * Math.PI) + logDet + sq);
}

/**
 * n samples of N(mean, LLᵀ) with their log-likelihoods, all kept: for inspection and tests. Draws from
 * `rng` in exactly the order lowestLikelihoodSamples(..., 'explicit') does, so the two agree for equal seeds.
 */
export function drawCandidates(mean: ArrayLike<number>, L: Float64Array, n: number, rng: Rng): { samples: Float64Array; logLikelihood: Float64Array } {
  const d = mean.length;
  const z = new Float64Array(d);
  const samples = new Float64Array(n * d);
  const logLikelihood = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    fillNormals(rng, z);
    affine(mean, L, z, samples.subarray(s * d, (s + 1) * d));
    logLikelihood[s] = logLikelihoodOfZ(L, z);
  }
  return { samples, logLikelihood };
}

/**
 * How the candidates are drawn; both give the same distribution of the kept samples.
 * - `explicit`: n full vectors z ~ N(0, I_d), x = μ + L·z; the likelihood falls as ‖z‖² grows, so
 *   the kept ones are the largest ‖z‖² (x is formed for the winners only). n·d normals per class.
 * - `radial` (default): a standard normal vector is z = ρ·u with ρ² ~ χ²_d and u uniform on the sphere,
 *   independent of ρ, and the likelihood depends on ρ alone. So the n candidates' likelihoods are n
 *   draws ρ² = 2·Gamma(d/2), the lowest-likelihood ones are the largest ρ², and only their directions
 *   need drawing. Same law as `explicit`, about d times fewer random numbers: 10,000 candidates of
 *   d = 128 cost ~30 k uniforms instead of 1.3 M per class, which matters on a CPU training step.
 */
export type CandidateSampling = 'radial' | 'explicit';

/** Inserts (sq, z) into `best` (descending by sq) and keeps its `size` largest. */
function keepLargest(best: { sq: number; z?: Float64Array }[], sq: number, z: Float64Array | undefined, size: number): void {
  if (best.length === size && sq <= best[size - 1].sq) return;
  let at = best.findIndex((b) => sq > b.sq);
  if (at < 0) at = best.length;
  best.splice(at, 0, { sq, z: z && Float64Array.from(z) });
  if (best.length > size) best.pop();
}

/**
 * Draws n candidates from N(mean, LLᵀ) and returns the `select` with the lowest likelihood, as rows of
 * [select, d], least likely first.
 */
export function lowestLikelihoodSamples(mean: ArrayLike<number>, L: Float64Array, n: number, select: number, rng: Rng,
  sampling: CandidateSampling = 'radial'): Float32Array {
  const d = mean.length;
  if (!(select >= 1 && select <= n)) throw new AresError(`VOS: cannot keep ${select} of ${n} candidates`);
  const z = new Float64Array(d);
  const best: { sq: number; z?: Float64Array }[] = [];
  for (let s = 0; s < n; s++) {
    if (sampling === 'radial') {
      keepLargest(best, 2 * rng.gamma(d / 2), undefined, select);
    } else {
      fillNormals(rng, z);
      let sq = 0;
      for (let i = 0; i < d; i++) sq += z[i] * z[i];
      keepLargest(best, sq, z, select);
    }
  }
  const out = new Float32Array(select * d);
  best.forEach((b, k) => {
    const zk = b.z ?? onSphere(rng, d, Math.sqrt(b.sq));
    affine(mean, L, zk, out.subarray(k * d, (k + 1) * d));
  });
  return out;
}

/** A uniformly random direction in R^d scaled to length `radius`. */
function onSphere(rng: Rng, d: number, radius: number): Float64Array {
  const u = new Float64Array(d);
  let norm = 0;
  while (norm === 0) {
    fillNormals(rng, u);
    norm = Math.hypot(...u);
  }
  return u.map((v) => (v / norm) * radius);
}

/**
 * Virtual outliers for every class from the full queues: [K·select, d] (class 0's first), as a Matrix
 * ready for tf.tensor2d(v.data, [v.rows, v.cols]) and model.head().
 */
export function sampleVirtualOutliers(q: ClassQueues, rng: Rng,
  opts: { candidates?: number; select?: number; jitter?: number; sampling?: CandidateSampling } = {}): Matrix {
  const candidates = opts.candidates ?? VOS_DEFAULTS.candidates;
  const select = opts.select ?? VOS_DEFAULTS.select;
  const g = queueGaussians(q, opts.jitter ?? VOS_DEFAULTS.covarianceJitter);
  const { L } = choleskyWithJitter(g.covariance, q.dim);
  const out = new Float32Array(q.numClasses * select * q.dim);
  for (let c = 0; c < q.numClasses; c++) {
    const mean = g.means.subarray(c * q.dim, (c + 1) * q.dim);
    out.set(lowestLikelihoodSamples(mean, L, candidates, select, rng, opts.sampling), c * select * q.dim);
  }
  return { data: out, rows: q.numClasses * select, cols: q.dim };
}

/** VOS's learnable parameters beside the model's: energy weights w_k and the 1→2 logistic regression. */
export interface VosParams {
  /** w: [K], used as relu(w_k). VOS initialises them U(0, 1). */
  energyWeights: tf.Variable<tf.Rank.R1>;
  /** Logistic regression on −E: kernel [1, 2] and bias [2], PyTorch's default init U(−1, 1). */
  lrKernel: tf.Variable<tf.Rank.R2>;
  lrBias: tf.Variable<tf.Rank.R1>;
  /** All three, to hand to the optimiser next to the model's variables. */
  variables: tf.Variable[];
}

export function createVosParams(numClasses: number, rng: Rng): VosParams {
  const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
  const energyWeights = tf.variable(tf.tensor1d(uniform(numClasses, 0, 1)));
  const lrKernel = tf.variable(tf.tensor2d(uniform(2, -1, 1), [1, 2]));
  const lrBias = tf.variable(tf.tensor1d(uniform(2, -1, 1)));
  return { energyWeights, lrKernel, lrBias, variables: [energyWeights, lrKernel, lrBias] };
}

/**
 * VOS's uncertainty loss, a tf scalar to use inside a gradient closure (unweighted: multiply by
 * VOS_DEFAULTS.lossWeight): mean cross-entropy of a 1→2 logistic regression on −E, label 1 for the
 * ID logits [B, K] and 0 for the virtual outliers' logits [M, K] (= model.head(v)). Gradients reach
 * the logits (hence the model), the energy weights and the regression.
 */
export function vosUncertaintyLoss(idLogits: tf.Tensor2D, outlierLogits: tf.Tensor2D, params: VosParams): tf.Scalar {
  return tf.tidy(() => {
    const b = idLogits.shape[0];
    const m = outlierLogits.shape[0];
    const negE = tf.concat([negativeEnergy(idLogits, params.energyWeights), negativeEnergy(outlierLogits, params.energyWeights)]);
    const z = tf.add(tf.matMul(tf.reshape(negE, [b + m, 1]), params.lrKernel), params.lrBias); // [B+M, 2]
    const logP = tf.logSoftmax(z);
    const target = tf.concat([tf.ones([b], 'int32'), tf.zeros([m], 'int32')]);
    const picked = tf.sum(tf.mul(logP, tf.oneHot(target, 2)), 1); // log p(label) per row
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}
