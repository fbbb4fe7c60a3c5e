import * as tf from '@tensorflow/tfjs';
import { engineInfo } from '../engine/backend.js';
import { checkBatchFits, heapMeter, measureStepMemory, preflightBatches, type StepMemory } from '../engine/heap.js';
import { createSgd } from '../engine/sgd.js';
import { buildModel } from '../models/index.js';
import { Rng } from '../util/rng.js';
import { ceTrainStep } from './ce-step.js';
import { usesRotation, type TrainConfig } from './config.js';
import { ROTATIONS } from './rotation.js';

/** Batches below this skip the check: it would cost more than it could save. */
const MIN_BATCH = 32;

/**
 * Before the first training step on wasm: measures a cross-entropy step of the configured model at
 * a quarter and a half of the batch and throws an AresError naming the memory needed and the
 * largest batch that fits when the full batch cannot fit in wasm memory. The backbone's
 * activations dominate every method's step (the outlier stages work on [B, d] features), so the
 * CE step stands for all of them; the margin in checkBatchFits covers the rest.
 */
export async function checkTrainingMemory(cfg: TrainConfig, shape: [number, number, number], classes: number): Promise<void> {
  if (engineInfo().backend !== 'wasm' || !heapMeter() || cfg.batchSize < MIN_BATCH) return;
  const { label, memory } = await measureTrainingStep(cfg, shape, classes);
  checkBatchFits(label, cfg.batchSize, memory);
}

/**
 * The memory of a training step of the configured model (a cross-entropy step, per training image:
 * the rotation methods forward each image 4 times), measured with the wasm heap meter at the
 * pre-flight batches, and the model's description for messages. Also sizes the batch named when
 * the GPU runs out of memory (src/methods/gpu-failure.ts). Needs the wasm backend current.
 */
export async function measureTrainingStep(cfg: TrainConfig, shape: [number, number, number], classes: number): Promise<{ label: string; memory: StepMemory }> {
  const m = await measureStepMemory((batch) => {
    const net = buildModel(cfg.model, shape, classes, cfg.seed);
    const sgd = createSgd(net.trainableVariables);
    const rng = new Rng(cfg.seed);
    const pixels = Float32Array.from({ length: batch * shape[0] * shape[1] * shape[2] }, () => rng.uniform());
    const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
    return {
      step: () => tf.tidy(() => {
        const x = tf.tensor4d(pixels, [batch, ...shape]);
        const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat() as tf.Tensor2D;
        return ceTrainStep(net, sgd, x, y, 0);
      }),
      dispose: () => { sgd.dispose(); net.layersModel.dispose(); },
    };
  }, preflightBatches(cfg.batchSize));
  // Rotation prediction forwards each training image 4 times (the image and its 3 turns).
  const perTrainingImage = usesRotation(cfg.method) ? ROTATIONS : 1;
  const label = `${cfg.model} (${shape.join('×')} input${perTrainingImage > 1 ? `, ${perTrainingImage} rotations of each image` : ''})`;
  return { label, memory: { ...m, perImageBytes: m.perImageBytes * perTrainingImage } };
}
