import * as tf from '@tensorflow/tfjs';
import { AresError } from '../errors.js';
import type { GraphModelSpec } from '../run/detector.js';
import type { Classifier, ModelName } from './types.js';

/** The head's linear weights read from the graph's Const nodes: logits = features·kernel + bias, kernel [d, K]. */
export function graphHeadWeights(model: tf.GraphModel, spec: GraphModelSpec): { kernel: Float32Array; bias: Float32Array | null } | null {
  const constant = (name: string | undefined) => (name ? model.weights[name]?.[0] : undefined);
  const w = constant(spec.headKernel);
  if (!w || w.rank !== 2) return null;
  const kernel = tf.tidy(() => (spec.headKernelTransposed ? w.transpose() : w).dataSync() as Float32Array);
  const b = constant(spec.headBias);
  return { kernel: Float32Array.from(kernel), bias: b ? Float32Array.from(b.dataSync() as Float32Array) : null };
}

/**
 * Runs `model` on x and returns the named nodes' tensors in order (GraphModel.execute fetches
 * internal nodes too, which is how the features are reached).
 */
export function executeNodes(model: tf.GraphModel, x: tf.Tensor, names: string[]): tf.Tensor[] {
  const out = model.execute(x, names);
  return Array.isArray(out) ? out : [out];
}

/**
 * Wraps a tfjs graph model as a Classifier: logits and features are the nodes `spec` names (with no
 * features node, the logits stand in as "features", so only logit scores are meaningful). Graph
 * models are frozen: nothing here is trainable, and they cannot be saved as a layers model.
 */
export function fromGraph(name: ModelName, model: tf.GraphModel, spec: GraphModelSpec, inputShape: [number, number, number]): Classifier {
  const names = spec.features ? [spec.logits, spec.features] : [spec.logits];
  let probe: number[][];
  try {
    probe = tf.tidy(() => executeNodes(model, tf.zeros([1, ...inputShape]), names).map((t) => t.shape));
  } catch (err) {
    // e.g. a node that is not in the graph, an input of another shape, or control flow (needs executeAsync).
    throw new AresError(`cannot run the graph model to nodes ${names.map((n) => `"${n}"`).join(', ')} on a ${inputShape.join('×')} image: ${(err as Error).message}`, { cause: err });
  }
  const [logitsShape, featuresShape = logitsShape] = probe;
  if (logitsShape.length !== 2) throw new AresError(`graph node "${spec.logits}" gives [${logitsShape.join(', ')}]; logits must be [batch, classes]`);
  if (featuresShape.length !== 2) throw new AresError(`graph node "${spec.features}" gives [${featuresShape.join(', ')}]; features must be flat [batch, d]`);
  const numClasses = logitsShape[1];
  const featureDim = featuresShape[1];
  const head = graphHeadWeights(model, spec);
  const usableHead = head && head.kernel.length === featureDim * numClasses && (!head.bias || head.bias.length === numClasses) ? head : null;
  return {
    name, inputShape, numClasses, featureDim, allVariables: [], trainableVariables: [],
    get layersModel(): tf.LayersModel {
      throw new AresError('this classifier is a tfjs graph model: it has no layers model to train or save');
    },
    apply(x) {
      const [logits, features] = executeNodes(model, x, names);
      return { logits: logits as tf.Tensor2D, features: (features ?? logits.clone()) as tf.Tensor2D };
    },
    head(features) {
      if (!usableHead) throw new AresError('the graph model\'s features → logits part is not one MatMul (+ bias) with constant weights');
      return tf.tidy(() => {
        const z = tf.matMul(features, tf.tensor2d(usableHead.kernel, [featureDim, numClasses]));
        return (usableHead.bias ? tf.add(z, tf.tensor1d(usableHead.bias)) : z) as tf.Tensor2D;
      });
    },
    headWeights: () => usableHead,
  };
}
