import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../models/index.js';
import { createSgd } from '../engine/sgd.js';
import { Rng } from '../util/rng.js';
import { buildMobileNetV2, foldedBackbone } from './mobilenetv2.js';
import type { BenchStep, BenchStepOptions } from './registry.js';

/**
 * The inference and frozen-backbone steps of `ares bench`. Like the CE step, each works on a
 * fixed batch of uniform random pixels (and labels), uploaded to the backend every step; the
 * inference step ends by reading the logits back to the host, so it times what a caller waits
 * for. Their "loss" is the mean logit for inference (a sanity check: same seed, same value) and
 * the head's cross-entropy for the frozen step.
 */

export const MOBILENETV2_INPUT: [number, number, number] = [224, 224, 3];
export const MOBILENETV2_CLASSES = 1000;

function fixedBatch(batch: number, shape: [number, number, number], classes: number, seed: number) {
  const rng = new Rng(seed);
  const pixels = Float32Array.from({ length: batch * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
  const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
  return { pixels, labels };
}

const meanOf = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s / a.length; };

/** Forward pass in inference mode (batch norm on running statistics) with readback of the logits. */
function inferStep(logitsOf: (x: tf.Tensor4D) => tf.Tensor, batch: number, shape: [number, number, number],
  pixels: Float32Array): () => number {
  return () => {
    const logits = tf.tidy(() => logitsOf(tf.tensor4d(pixels, [batch, ...shape])));
    try {
      return meanOf(logits.dataSync() as Float32Array);
    } finally {
      logits.dispose();
    }
  };
}

/** Inference step of one of src/models' classifiers at its bench input (ce-step.ts's BENCH_INPUT). */
export function inferBenchStep(model: string, shape: [number, number, number], classes: number) {
  return ({ batch, seed }: BenchStepOptions): BenchStep => {
    const net = buildModel(model, shape, classes, seed);
    const { pixels } = fixedBatch(batch, shape, classes, seed);
    return {
      step: inferStep((x) => net.apply(x, false).logits, batch, shape, pixels),
      dispose: () => net.layersModel.dispose(),
    };
  };
}

/**
 * MobileNetV2 at 224x224, 1000 classes: inference. `folded` (the default, --method infer) runs the
 * backbone as a converted TensorFlow MobileNetV2 runs, batch norm folded into the convolutions
 * (mobilenetv2.ts's foldedBackbone); otherwise (--method infer-layers) through tfjs-layers, batch
 * norm and ReLU6 as ops of their own, as the network is built.
 */
export function mobilenetInferBenchStep(folded: boolean) {
  return ({ batch, seed }: BenchStepOptions): BenchStep => {
    const net = buildMobileNetV2({ inputShape: MOBILENETV2_INPUT, classes: MOBILENETV2_CLASSES, seed });
    const { pixels } = fixedBatch(batch, MOBILENETV2_INPUT, MOBILENETV2_CLASSES, seed);
    const backbone = folded ? foldedBackbone(net) : null;
    const logitsOf = backbone
      ? (x: tf.Tensor4D) => net.head.apply(backbone.apply(x)) as tf.Tensor
      : (x: tf.Tensor4D) => (net.model.apply(x, { training: false }) as tf.Tensor[])[0];
    return {
      step: inferStep(logitsOf, batch, MOBILENETV2_INPUT, pixels),
      dispose: () => { backbone?.dispose(); net.model.dispose(); },
    };
  };
}

/**
 * MobileNetV2 training step with the backbone frozen (fine-tuning the classifier only, as
 * `ares fit` does on a pretrained network): the backbone runs in inference mode outside the
 * gradient tape (folded, as --method infer runs it), then dropout 0.2, the dense head, softmax cross-entropy, backward through the
 * head and the CE step's SGD update (Nesterov momentum 0.9, weight decay 5e-4, lr 0.1) of the
 * head's kernel and bias.
 */
export function mobilenetFrozenBenchStep({ batch, seed }: BenchStepOptions): BenchStep {
  const net = buildMobileNetV2({ inputShape: MOBILENETV2_INPUT, classes: MOBILENETV2_CLASSES, seed });
  const { pixels, labels } = fixedBatch(batch, MOBILENETV2_INPUT, MOBILENETV2_CLASSES, seed);
  const headVars = net.head.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const sgd = createSgd(headVars);
  const backbone = foldedBackbone(net);
  return {
    step: () => {
      const features = tf.tidy(() => backbone.apply(tf.tensor4d(pixels, [batch, ...MOBILENETV2_INPUT])));
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), MOBILENETV2_CLASSES).toFloat());
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y,
        net.head.apply(tf.dropout(features, net.dropout)) as tf.Tensor2D) as tf.Scalar, headVars);
      try {
        sgd.step(headVars.map((v) => grads[v.name]), 0.1);
        return value.dataSync()[0];
      } finally {
        tf.dispose([features, y, value]);
        tf.dispose(grads);
      }
    },
    dispose: () => { sgd.dispose(); backbone.dispose(); net.model.dispose(); },
  };
}
