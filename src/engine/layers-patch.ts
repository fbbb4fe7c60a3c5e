import * as tf from '@tensorflow/tfjs';
import { batchNormTrain, fastBatchNormAvailable } from './kernels/batch-norm.js';

/**
 * Routes tfjs-layers' BatchNormalization in training mode through the fused wasm kernel
 * (kernels/batch-norm.ts), for every model, built here or loaded. Only the training forward
 * changes, and it computes what the original computes: y from the batch's mean and biased
 * variance, then the same moving-average updates. Inference, other axes, other backends and
 * channel counts the kernel does not cover keep the original code path.
 */

interface BnLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(t: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(t: tf.Tensor): void };
}
type CallFn = (this: BnLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

let patched = false;

export function patchBatchNormalization(): void {
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: CallFn };
  const original = proto.call;
  proto.call = function (inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs?.['training'] === true;
    const lastAxis = this.axis === -1 || this.axis === input.rank - 1;
    if (!training || Array.isArray(inputs) && inputs.length !== 1 || !lastAxis || !this.center || !this.scale
      || !this.gamma || !this.beta || !fastBatchNormAvailable(input)) {
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(input, this.gamma!.read() as tf.Tensor1D,
        this.beta!.read() as tf.Tensor1D, this.epsilon);
      // Same update as tfjs-layers: moving -= (moving - batch) * (1 - momentum).
      const decay = 1 - this.momentum;
      for (const [v, batch] of [[this.movingMean, mean], [this.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const orig = v.read();
          v.write(tf.sub(orig, tf.mul(tf.sub(orig, batch), decay)));
        });
      }
      return y;
    });
  };
}
