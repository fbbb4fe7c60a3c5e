import type * as tf from '@tensorflow/tfjs';

export type ModelName = 'cnn' | 'resnet18' | 'wrn40-2';

export interface ModelOutputs {
  /** f_cls(f_ext(x)): [B, K] */
  logits: tf.Tensor2D;
  /** f_ext(x), the penultimate features: [B, d] */
  features: tf.Tensor2D;
}

/**
 * A classifier split as the paper writes it, f = f_cls ∘ f_ext, because ARES samples virtual
 * outliers in feature space and must push them through f_cls alone.
 */
export interface Classifier {
  readonly name: ModelName;
  /** [H, W, C] of one input image. */
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  /** d, the width of the penultimate features. */
  readonly featureDim: number;
  /** Full forward pass. `training` uses batch statistics in batch norm and updates the running ones. */
  apply(x: tf.Tensor4D, training: boolean): ModelOutputs;
  /** f_cls alone: features [B, d] -> logits [B, K]. */
  head(features: tf.Tensor2D): tf.Tensor2D;
  /** Every variable the optimiser updates. */
  readonly trainableVariables: tf.Variable[];
  /** Every variable, trainable or not (batch-norm running statistics included), in a fixed order. */
  readonly allVariables: tf.Variable[];
  /**
   * The head's weights when it is one linear layer, logits = features·kernel + bias (kernel [d, K],
   * bias [K] or null); null otherwise. Post-hoc scores read them (ViM's origin).
   */
  headWeights?(): { kernel: Float32Array; bias: Float32Array | null } | null;
  /** headWeights with awaited reads (webgpu: a GPU-held variable cannot be read synchronously in Node); absent = use headWeights. */
  headWeightsAsync?(): Promise<{ kernel: Float32Array; bias: Float32Array | null } | null>;
  /** The underlying tfjs-layers model (inputs -> [logits, features]) for saving in tfjs format. */
  readonly layersModel: tf.LayersModel;
}
