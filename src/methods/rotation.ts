/**
 * Rotation prediction (Hendrycks et al., NeurIPS 2019, "Using self-supervised learning can improve
 * model robustness and uncertainty"), as a training method and its OOD score.
 *
 * Training: every batch x (B images) also passes its rotations by 90°, 180° and 270° through the
 * backbone, all 4B images in one forward pass in training mode (so batch norm sees the 4B images,
 * as in the authors' code and OpenOOD's). An auxiliary linear head on the penultimate features
 * predicts which of the 4 rotations an image underwent:
 *
 *   loss = CE_class(f(x)[:B], y) + λ · CE_rot(g(h(x_rot)), r),   λ = 0.5 (the authors' code's rot_loss_weight)
 *
 * CE_rot is the mean over the 4B rotated images, i.e. the mean over the 4 rotations of each
 * rotation's mean cross-entropy. OpenOOD's trainer uses λ = 1; λ is `rotationWeight` in the config.
 *
 * Score (`rotpred`, higher = more in-distribution): the paper's multi-class OOD score,
 *
 *   score(x) = KL(U ‖ p(y|x)) + (1/4) Σ_r log p_rot(r | rot_r(x)),
 *
 * with p(y|x) the classifier's softmax on the unrotated image and p_rot the rotation head's softmax.
 * This is OpenOOD's RotPredPostprocessor up to a positive factor: OpenOOD takes both terms in bits
 * (log2), here they are in nats, which ranks images identically. As in OpenOOD, the four rotations
 * of a batch go through the network in eval mode, so each image's outputs do not depend on the others.
 *
 * Rotations are quarter turns counter-clockwise as displayed (torch.rot90(x, k, [H, W])), so only
 * square images can be rotated; a non-square input is an AresError.
 *
 * The head is a Dense(4) layer named `rotation_head` on the features, added as a third output of
 * the layers model ([logits, features, rotation logits]): it is then saved and loaded with the
 * model and its checkpoints like any other layer, and code that reads the first two outputs is
 * unaffected.
 */
import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import { batches } from '../data/batches.js';
import type { ImageSet, Normalization } from '../data/types.js';
import { fromLayers } from '../models/layers-classifier.js';
import type { Classifier } from '../models/types.js';

export const ROTATIONS = 4;
export const ROTATION_HEAD_NAME = 'rotation_head';
export const ROTATION_DEFAULTS = {
  /** λ of CE_class + λ·CE_rot (the authors' code; OpenOOD uses 1). */
  weight: 0.5,
} as const;

/** Throws unless images of `shape` ([H, W, C]) can be turned by 90° into the same shape. */
export function checkSquare(shape: readonly [number, number, number], what = 'rotation prediction'): void {
  if (shape[0] !== shape[1]) {
    throw new AresError(`${what} turns images by 90°, which needs square images; these are ${shape[0]}×${shape[1]} (bring them to a square size first)`, { exitCode: 2 });
  }
}

/**
 * One square image (n×n×c, row-major HWC) turned `quarterTurns` × 90° counter-clockwise into dst:
 * one turn maps out[i][j] = in[j][n−1−i] (torch.rot90 with k = 1 over (H, W)).
 */
export function rotateImage(src: Float32Array, dst: Float32Array, n: number, c: number, quarterTurns: number): void {
  const k = ((quarterTurns % 4) + 4) % 4;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let si: number, sj: number;
      if (k === 0) { si = i; sj = j; } else if (k === 1) { si = j; sj = n - 1 - i; } else if (k === 2) { si = n - 1 - i; sj = n - 1 - j; } else { si = n - 1 - j; sj = i; }
      const o = (i * n + j) * c, s = (si * n + sj) * c;
      for (let ch = 0; ch < c; ch++) dst[o + ch] = src[s + ch];
    }
  }
}

/**
 * The 4 rotations of a batch of `count` square images, rotation-major as OpenOOD stacks them:
 * [x, rot90(x), rot180(x), rot270(x)] (4·count images), and each image's rotation label r ∈ 0..3.
 */
export function rotationBatch(x: Float32Array, shape: readonly [number, number, number], count: number): { x: Float32Array; labels: Int32Array } {
  checkSquare(shape);
  const [n, , c] = shape;
  const size = n * n * c;
  if (x.length !== count * size) throw new AresError(`rotation batch: ${x.length} values are not ${count} images of ${shape.join('×')}`);
  const out = new Float32Array(ROTATIONS * x.length);
  const labels = new Int32Array(ROTATIONS * count);
  for (let r = 0; r < ROTATIONS; r++) {
    labels.fill(r, r * count, (r + 1) * count);
    for (let i = 0; i < count; i++) {
      const dst = out.subarray((r * count + i) * size, (r * count + i + 1) * size);
      rotateImage(x.subarray(i * size, (i + 1) * size), dst, n, c, r);
    }
  }
  return { x: out, labels };
}

/**
 * `base` with a freshly initialised rotation head (Dense(4) on its features, seeded by `seed`) as
 * the layers model's third output. The layers and their variables are the base model's own, so
 * weights loaded into (or frozen in) `base` before are kept.
 */
export function withRotationHead(base: Classifier, seed: number): Classifier {
  const lm = base.layersModel;
  if (lm.outputs.length !== 2) throw new AresError(`model ${base.name} already has ${lm.outputs.length} outputs; a rotation head goes on a [logits, features] model`);
  checkSquare(base.inputShape);
  const head = tf.layers.dense({ units: ROTATIONS, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 997 }), name: ROTATION_HEAD_NAME });
  const [logits, features] = lm.outputs;
  const model = tf.model({ inputs: lm.inputs, outputs: [logits, features, head.apply(features) as tf.SymbolicTensor] });
  return fromLayers(base.name, model, model.getLayer('head'), base.inputShape, base.numClasses, base.featureDim);
}

/** The rotation head of a model trained with it, or null (another method's model, a graph model). */
export function rotationHeadOf(model: Classifier): tf.layers.Layer | null {
  let lm: tf.LayersModel;
  try {
    lm = model.layersModel;
  } catch {
    return null; // a graph model has no layers model
  }
  if (lm.outputs.length < 3) return null;
  return lm.layers.find((l) => l.name === ROTATION_HEAD_NAME) ?? null;
}

/** Throws an AresError naming `what` unless the model has a rotation head. */
export function requireRotationHead(model: Classifier, what = 'the rotpred score'): void {
  if (!rotationHeadOf(model)) {
    throw new AresError(`${what} needs the rotation head of a model trained with --method rotation or pixmix-rotation; this model has none`, { exitCode: 2 });
  }
}

/** Logits [N, K], features [N, d] and rotation logits [N, 4] of one forward pass. */
export function rotationForward(model: Classifier, x: tf.Tensor4D, training: boolean): { logits: tf.Tensor2D; features: tf.Tensor2D; rotation: tf.Tensor2D } {
  requireRotationHead(model, 'this forward pass');
  const [logits, features, rotation] = model.layersModel.apply(x, { training }) as tf.Tensor2D[];
  return { logits, features, rotation };
}

/** Mean cross-entropy of the rotation logits [4B, 4] against the rotation labels [4B]. */
export function rotationLoss(rotationLogits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  return tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), ROTATIONS), rotationLogits) as tf.Scalar);
}

function logSumExp(v: ArrayLike<number>, at: number, len: number): number {
  let m = -Infinity;
  for (let i = 0; i < len; i++) m = Math.max(m, v[at + i]);
  let s = 0;
  for (let i = 0; i < len; i++) s += Math.exp(v[at + i] - m);
  return m + Math.log(s);
}

/**
 * The rotpred score from outputs: `logits` [n, K] of the unrotated images and `rotationLogits`
 * [4n, 4] of their rotations, rotation-major as rotationBatch stacks them.
 * KL(U ‖ p) = −log K − (1/K) Σ_k log p_k; the rotation term is (1/4) Σ_r log p_rot(r | rot_r(x)).
 */
export function rotpredFromOutputs(logits: ArrayLike<number>, rotationLogits: ArrayLike<number>, n: number, K: number): Float64Array {
  if (logits.length !== n * K || rotationLogits.length !== ROTATIONS * n * ROTATIONS) {
    throw new AresError(`rotpred: ${logits.length} logits and ${rotationLogits.length} rotation logits do not fit ${n} images of ${K} classes`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const lse = logSumExp(logits, i * K, K);
    let sumLogP = 0;
    for (let k = 0; k < K; k++) sumLogP += logits[i * K + k] - lse;
    const kl = -Math.log(K) - sumLogP / K;
    let rot = 0;
    for (let r = 0; r < ROTATIONS; r++) {
      const at = (r * n + i) * ROTATIONS;
      rot += rotationLogits[at + r] - logSumExp(rotationLogits, at, ROTATIONS);
    }
    out[i] = kl + rot / ROTATIONS;
  }
  return out;
}

/**
 * rotpred scores of every image of `set` (pixels in [0, 1]; normalised here), in batches of
 * `batchSize` images (4·batchSize pass through the network at once).
 */
export function rotpredScores(model: Classifier, set: ImageSet, normalization: Normalization, batchSize: number): Float64Array {
  const out = new Float64Array(set.count);
  let row = 0;
  for (const batch of rotpredBatches(model, set, normalization, batchSize)) {
    tf.tidy(() => {
      const o = rotpredOutputs(model, set, batch.x, batch.size);
      out.set(rotpredFromOutputs(o.logits.dataSync(), o.rotation.dataSync(), batch.size, model.numClasses), row);
    });
    row += batch.size;
  }
  return out;
}

/** rotpredScores with awaited reads: the one that runs on webgpu (no synchronous reads in Node). Same numbers. */
export async function rotpredScoresAsync(model: Classifier, set: ImageSet, normalization: Normalization, batchSize: number): Promise<Float64Array> {
  const out = new Float64Array(set.count);
  let row = 0;
  for (const batch of rotpredBatches(model, set, normalization, batchSize)) {
    const o = tf.tidy(() => rotpredOutputs(model, set, batch.x, batch.size));
    try {
      out.set(rotpredFromOutputs(await o.logits.data(), await o.rotation.data(), batch.size, model.numClasses), row);
    } finally {
      tf.dispose([o.logits, o.rotation]);
    }
    row += batch.size;
  }
  return out;
}

function rotpredBatches(model: Classifier, set: ImageSet, normalization: Normalization, batchSize: number) {
  requireRotationHead(model);
  checkSquare(set.shape, `the rotpred score of ${set.name}`);
  return batches(set, { batchSize: Math.max(1, batchSize), shuffle: false, normalization });
}

/** The class logits of the unrotated images and the rotation logits of all four rotations. */
function rotpredOutputs(model: Classifier, set: ImageSet, x: Float32Array, size: number): { logits: tf.Tensor; rotation: tf.Tensor } {
  const rot = rotationBatch(x, set.shape, size);
  const o = rotationForward(model, tf.tensor4d(rot.x, [ROTATIONS * size, ...set.shape]), false);
  return { logits: o.logits.slice([0, 0], [size, model.numClasses]), rotation: o.rotation };
}
