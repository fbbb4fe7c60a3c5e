import * as tf from '@tensorflow/tfjs';
import { readFloat32 } from '../engine/read.js';
import type { Classifier, ModelName } from './types.js';

/**
 * Wraps a tfjs-layers model whose outputs are [logits, features] and whose last layer is the
 * dense head, as a Classifier.
 */
export function fromLayers(name: ModelName, model: tf.LayersModel, head: tf.layers.Layer,
  inputShape: [number, number, number], numClasses: number, featureDim: number): Classifier {
  const allVariables = model.weights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const trainableVariables = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  return {
    name, inputShape, numClasses, featureDim, layersModel: model, allVariables, trainableVariables,
    apply(x, training) {
      const [logits, features, ...extra] = model.apply(x, { training }) as tf.Tensor[];
      // A model with more outputs (the rotation head's, src/methods/rotation.ts) computes them too:
      // freed here, so callers that hold only logits and features leak nothing.
      tf.dispose(extra);
      return { logits: logits as tf.Tensor2D, features: features as tf.Tensor2D };
    },
    head(features) {
      return head.apply(features) as tf.Tensor2D;
    },
    headWeights() {
      if (!linearHead(head)) return null;
      const [kernel, bias] = head.getWeights();
      // Copies: dataSync may hand out the variable's own buffer.
      return { kernel: Float32Array.from(kernel.dataSync()), bias: bias ? Float32Array.from(bias.dataSync()) : null };
    },
    async headWeightsAsync() {
      if (!linearHead(head)) return null;
      const [kernel, bias] = head.getWeights();
      return { kernel: await readFloat32(kernel), bias: bias ? await readFloat32(bias) : null };
    },
  };
}

/** A Dense head without activation: logits = features·kernel + bias, which ViM and the shaping scores need. */
function linearHead(head: tf.layers.Layer): boolean {
  const cfg = head.getConfig();
  return head.getClassName() === 'Dense' && (cfg.activation === undefined || cfg.activation === 'linear');
}
