import * as tf from '@tensorflow/tfjs';
import type { Sgd } from '../engine/sgd.js';
import type { Classifier } from '../models/types.js';

/**
 * One cross-entropy training step (batch-norm in training mode), the benchmark's CE step.
 * x: [B, H, W, C], yOneHot: [B, K]. Returns the mean loss of the batch before the update.
 */
export function ceTrainStep(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number): number {
  const loss = ceStepLoss(model, sgd, x, yOneHot, lr);
  try {
    return loss.dataSync()[0];
  } finally {
    loss.dispose();
  }
}

/** ceTrainStep for backends that can only read asynchronously (webgpu in Node: no OffscreenCanvas for dataSync). */
export async function ceTrainStepAsync(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number): Promise<number> {
  const loss = ceStepLoss(model, sgd, x, yOneHot, lr);
  try {
    return (await loss.data())[0];
  } finally {
    loss.dispose();
  }
}

/** The step with its loss left as a tensor for the caller to read and dispose. */
function ceStepLoss(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number): tf.Scalar {
  const vars = sgd.vars as tf.Variable[];
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(yOneHot, model.apply(x, true).logits) as tf.Scalar, vars);
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
