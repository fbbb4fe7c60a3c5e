import * as tf from '@tensorflow/tfjs';
import type { Sgd } from '../engine/sgd.js';
import type { Classifier } from '../models/types.js';

/**
 * One cross-entropy training step (batch-norm in training mode), the benchmark's CE step.
 * x: [B, H, W, C], yOneHot: [B, K]. Returns the mean loss of the batch before the update.
 */
export function ceTrainStep(model: Classifier, sgd: Sgd, x: tf.Tensor4D, yOneHot: tf.Tensor2D, lr: number): number {
  const vars = sgd.vars as tf.Variable[];
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(yOneHot, model.apply(x, true).logits) as tf.Scalar, vars);
  try {
    sgd.step(vars.map((v) => grads[v.name]), lr);
    return value.dataSync()[0];
  } finally {
    value.dispose();
    tf.dispose(grads);
  }
}
