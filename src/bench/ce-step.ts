import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../models/index.js';
import { createSgd } from '../engine/sgd.js';
import { ceTrainStep, ceTrainStepAsync } from '../methods/ce-step.js';
import { augmentBatch, resolveAugment, type AugmentMode } from '../data/augment.js';
import { Rng } from '../util/rng.js';
import type { BenchStep, BenchStepOptions } from './registry.js';

/**
 * Input shape, class count and per-step augmentation each model is benchmarked with: the
 * reference CNN on 28x28 grey digits, the CIFAR models on 32x32 colour. The augmentation is what
 * `ares train` picks by default for that shape (none for grey 28x28, the standard random crop +
 * flip for 32x32 colour), so the bench times the same per-step work as training.
 */
const input = (shape: [number, number, number], classes: number) => ({ shape, classes, augment: resolveAugment('auto', shape) as AugmentMode });
export const BENCH_INPUT: Record<string, { shape: [number, number, number]; classes: number; augment: AugmentMode }> = {
  cnn: input([28, 28, 1], 10),
  resnet18: input([32, 32, 3], 10),
  'wrn40-2': input([32, 32, 3], 10),
};

/**
 * The cross-entropy training step (design.md's recipe: SGD, Nesterov momentum 0.9, weight decay
 * 5e-4, lr 0.1), including the per-step data work of training: augmenting the host batch and
 * uploading it. The batch is fixed random pixels and labels, as in PyTorch's reference script.
 */
export function ceBenchStep(model: string) {
  return ({ batch, seed }: BenchStepOptions): BenchStep => {
    const { shape, classes, augment } = BENCH_INPUT[model];
    const net = buildModel(model, shape, classes, seed);
    const sgd = createSgd(net.trainableVariables);
    const rng = new Rng(seed);
    const pixels = Float32Array.from({ length: batch * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
    const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
    const work = new Float32Array(pixels.length);
    return {
      step: () => {
        work.set(pixels);
        augmentBatch(work, shape, augment, rng);
        const x = tf.tensor4d(work, [batch, ...shape]);
        const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat()) as tf.Tensor2D;
        // webgpu cannot read synchronously in Node; wasm keeps the synchronous read it was timed with.
        if (tf.getBackend() !== 'webgpu') {
          try {
            return ceTrainStep(net, sgd, x, y, 0.1);
          } finally {
            tf.dispose([x, y]);
          }
        }
        return ceTrainStepAsync(net, sgd, x, y, 0.1).finally(() => tf.dispose([x, y]));
      },
      dispose: () => { sgd.dispose(); net.layersModel.dispose(); },
    };
  };
}
