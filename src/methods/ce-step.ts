import * as tf from '@tensorflow/tfjs';
import type { Sgd } from '../engine/sgd.js';
import type { Classifier } from '../models/types.js';

/**
 * The classification loss of every method: mean softmax cross-entropy of logits [B, K] against
 * one-hot labels [B, K], with the targets smoothed towards uniform,
 *
 *   target = (1 − ε)·onehot + ε/K,   ε = labelSmoothing,
 *
 * (Szegedy et al. 2016, as torch.nn.CrossEntropyLoss(label_smoothing=ε)). ε = 0 takes tf's
 * unsmoothed path, so the loss is bit-identical to plain cross-entropy.
 */
export function classificationLoss(yOneHot: tf.Tensor, logits: tf.Tensor, labelSmoothing = 0): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(yOneHot, logits, undefined, labelSmoothing) as tf.Scalar;
}

/**
 * One cross-entropy training step (batch-norm in training mode), the benchmark's CE step.
 * x: [B, H, W, C], yOneHot: [B, K]. Returns the mean loss of the batch before the update.
 */
export function ceTrainStep(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number, labelSmoothing = 0): number {
  const loss = ceStepLoss(model, sgd, x, yOneHot, lr, labelSmoothing);
  try {
    return loss.dataSync()[0];
  } finally {
    loss.dispose();
  }
}

/** ceTrainStep for backends that can only read asynchronously (webgpu in Node: no OffscreenCanvas for dataSync). */
export async function ceTrainStepAsync(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number, labelSmoothing = 0): Promise<number> {
  const loss = ceStepLoss(model, sgd, x, yOneHot, lr, labelSmoothing);
  try {
    return (await loss.data())[0];
  } finally {
    loss.dispose();
  }
}

/** The step with its loss left as a tensor for the caller to read and dispose. */
function ceStepLoss(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number, labelSmoothing: number): tf.Scalar {
  const vars = sgd.vars as tf.Variable[];
  const { value, grads } = tf.variableGrads(
    () => classificationLoss(yOneHot, model.apply(x, true).logits, labelSmoothing), vars);
  try {
    sgd.step(vars.map((v) => grads[v.name]), lr);
    return value;
  } catch (err) {
    value.dispose();
    throw err;
  } finally {
    tf.dispose(grads);
  }
}
