import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageSet } from '../../src/data/types.js';
import { initEngine } from '../../src/engine/backend.js';
import { FORWARD_BUDGET_BYTES, disposeAfterError, forwardBatchSize, measureForwardMemory } from '../../src/engine/memory.js';
import { forwardBatchFor, forwardSet } from '../../src/eval/evaluate.js';
import { buildModel } from '../../src/models/index.js';
import { fromLayers } from '../../src/models/layers-classifier.js';
import { buildTinyModel } from '../fixtures/tiny-model.js';

/**
 * Forward passes are batched by memory: a batch keeps every activation alive inside one tidy, so a
 * fixed 256 crashed 224×224 models. Small models keep 256 (results unchanged); wide ones get fewer.
 */
beforeAll(async () => { await initEngine(); });

const MiB = 2 ** 20;

describe('forwardBatchSize', () => {
  it('is the largest batch whose pass fits the budget, at least 1 and at most the cap', () => {
    expect(forwardBatchSize({ fixedBytes: 0, perImageBytes: 0.5 * MiB })).toBe(256);
    expect(forwardBatchSize({ fixedBytes: 0, perImageBytes: 25 * MiB })).toBe(10);
    expect(forwardBatchSize({ fixedBytes: 56 * MiB, perImageBytes: 25 * MiB })).toBe(8);
    expect(forwardBatchSize({ fixedBytes: 300 * MiB, perImageBytes: MiB })).toBe(1);
    expect(forwardBatchSize({ fixedBytes: 0, perImageBytes: 0 })).toBe(256);
    expect(forwardBatchSize({ fixedBytes: 0, perImageBytes: MiB }, FORWARD_BUDGET_BYTES, 64)).toBe(64);
  });
});

function randomSet(shape: [number, number, number], count: number, seed: number): ImageSet {
  return { name: 'random', shape, count, images: tf.tidy(() => tf.randomUniform([count * shape[0] * shape[1] * shape[2]], 0, 1, 'float32', seed).dataSync() as Float32Array), split: 'all' };
}

/** size×size×3 → 1×1 conv to 96 channels (relu) → global average pool (features) → dense head. */
function wideClassifier(size: number) {
  const input = tf.input({ shape: [size, size, 3] });
  const conv = tf.layers.conv2d({ filters: 96, kernelSize: 1, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  const features = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'head' });
  const logits = head.apply(features) as tf.SymbolicTensor;
  return fromLayers('cnn', tf.model({ inputs: input, outputs: [logits, features] }), head, [size, size, 3], 3, 96);
}

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };

function expectSameOutputs(c: ReturnType<typeof wideClassifier>, set: ImageSet, batch: number): void {
  const before = tf.memory().numTensors;
  const sized = forwardSet(c, set, norm, batch);
  expect(tf.memory().numTensors).toBe(before);
  const whole = forwardSet(c, set, norm, set.count);
  for (const k of ['logits', 'features'] as const) {
    expect(sized[k].rows).toBe(set.count);
    const a = sized[k].data, w = whole[k].data;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - w[i]));
    expect(worst, k).toBeLessThan(1e-5);
  }
}

describe('forward batches sized to the model', () => {
  it('small models keep the batch of 256: a dense model, and the project\'s own at the sizes they are trained at', () => {
    const tiny = buildTinyModel([28, 28, 1], 6, 1);
    expect(forwardBatchFor(fromLayers('cnn', tiny.model, tiny.head, [28, 28, 1], 6, tiny.featureDim))).toBe(256);
    for (const [name, shape] of [['cnn', [28, 28, 1]], ['cnn', [32, 32, 3]], ['resnet18', [32, 32, 3]], ['wrn40-2', [32, 32, 3]]] as const) {
      const c = buildModel(name, [...shape], 10, 0);
      expect(forwardBatchFor(c), `${name} ${shape.join('×')}`).toBe(256);
      tf.dispose(c.allVariables);
    }
  });

  it('a 224×224 model with wide activations gets a batch that fits the budget (wasm heap meter), and the same outputs as one big batch', () => {
    const c = wideClassifier(224);
    const m = measureForwardMemory((x) => c.apply(x, false), c.inputShape);
    // At least the conv's [224, 224, 96] float32 output per image (tfjs frees it when the pass moves on).
    expect(m.perImageBytes).toBeGreaterThanOrEqual(224 * 224 * 96 * 4);
    const b = forwardBatchFor(c);
    expect(b).toBe(forwardBatchSize(m));
    expect(b).toBeGreaterThanOrEqual(2);
    expect(b).toBeLessThan(10);
    expect(m.fixedBytes + m.perImageBytes * b).toBeLessThanOrEqual(FORWARD_BUDGET_BYTES);
    expectSameOutputs(c, randomSet([224, 224, 3], b + 3, 7), b); // two batches, the second one short
  });

  it('without the heap meter (cpu backend) the peak tensor bytes of the pass are measured', async () => {
    await tf.setBackend('cpu');
    try {
      const c = wideClassifier(64);
      const m = measureForwardMemory((x) => c.apply(x, false), c.inputShape);
      // The conv's [64, 64, 96] output is alive while the pool reads it (the tidy keeps only the outputs at the end).
      expect(m.perImageBytes).toBeGreaterThanOrEqual(64 * 64 * 96 * 4);
      expect(m.perImageBytes).toBeLessThan(4 * 64 * 64 * 96 * 4);
      const b = forwardBatchSize(m, 8 * MiB);
      expect(b).toBeGreaterThanOrEqual(2);
      expect(b).toBeLessThan(6);
      expect(m.fixedBytes + m.perImageBytes * b).toBeLessThanOrEqual(8 * MiB);
      expectSameOutputs(c, randomSet([64, 64, 3], b + 2, 3), b);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe('disposeAfterError', () => {
  it('keeps the error that stopped the work; a failing clean-up rides along as err.suppressed', () => {
    const first = new Error('the forward pass failed');
    const cleanupError = new RangeError('memory access out of bounds');
    const disposed: string[] = [];
    disposeAfterError(first, { dispose: () => { throw cleanupError; } }, { dispose: () => { disposed.push('second'); } }, null);
    expect(disposed).toEqual(['second']); // the others are still freed
    expect((first as Error & { suppressed?: unknown }).suppressed).toBe(cleanupError);
  });
});
