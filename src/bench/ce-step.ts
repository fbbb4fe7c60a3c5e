import * as tf from '@tensorflow/tfjs';
import { buildModel } from '../models/index.js';
import { createSgd } from '../engine/sgd.js';
import { ceTrainStep } from '../methods/ce-step.js';
import { randomCropFlip } from '../data/augment.js';
import { Rng } from '../util/rng.js';
import type { BenchStep, BenchStepOptions } from './registry.js';

/**
 * Input shape, class count and per-step augmentation each model is benchmarked with: the
 * reference CNN on 28x28 grey digits (no augmentation, as design.md's recipe), the CIFAR models
 * on 32x32 colour with the standard random crop + flip.
 */
export const BENCH_INPUT: Record<string, { shape: [number, number, number]; classes: number; cropFlip: boolean }> = {
  cnn: { shape: [28, 28, 1], classes: 10, cropFlip: false },
  resnet18: { shape: [32, 32, 3], classes: 10, cropFlip: true },
  'wrn40-2': { shape: [32, 32, 3], classes: 10, cropFlip: true },
};

/**
 * The cross-entropy training step (design.md's recipe: SGD, Nesterov momentum 0.9, weight decay
 * 5e-4, lr 0.1), including the per-step data work of training: augmenting the host batch and
 * uploading it. The batch is fixed random pixels and labels, as in PyTorch's reference script.
 */
export function ceBenchStep(model: string) {
  return ({ batch, seed }: BenchStepOptions): BenchStep => {
    const { shape, classes, cropFlip } = BENCH_INPUT[model];
    const net = buildModel(model, shape, classes, seed);
    const sgd = createSgd(net.trainableVariables);
    const rng = new Rng(seed);
    const pixels = Float32Array.from({ length: batch * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
    const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
    const work = new Float32Array(pixels.length);
    return {
      step: () => {
        work.set(pixels);
        if (cropFlip) randomCropFlip(work, shape, rng);
        const x = tf.tensor4d(work, [batch, ...shape]);
        const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat()) as tf.Tensor2D;
        try {
          return ceTrainStep(net, sgd, x, y, 0.1);
        } finally {
          tf.dispose([x, y]);
        }
      },
      dispose: () => { sgd.dispose(); net.layersModel.dispose(); },
    };
  };
}
