import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { buildCnn } from '../../src/models/cnn.js';
import { cosineLr, createSgd } from '../../src/engine/sgd.js';
import { ceTrainStep } from '../../src/methods/ce-step.js';
import { Rng } from '../../src/util/rng.js';

// End to end: one epoch of the reference CNN on wasm learns real digits.
const TRAIN = 8000, TEST = 2000, BATCH = 128, PIXELS = 784;

function loadDigits(): { images: Float32Array; labels: Int32Array } {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const parts = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data);
  const n = parts.reduce((a, p) => a + p.length / PIXELS, 0);
  const images = new Float32Array(n * PIXELS), labels = new Int32Array(n);
  let k = 0;
  parts.forEach((p, d) => { images.set(p, k * PIXELS); labels.fill(d, k, k + p.length / PIXELS); k += p.length / PIXELS; });
  return { images, labels };
}

describe('reference CNN on MNIST', () => {
  it('reaches > 95% test accuracy after one epoch on 8,000 digits', async () => {
    await initEngine({ backend: 'wasm' });
    const { images, labels } = loadDigits();
    const order = new Rng(0).permutation(labels.length);
    const pick = (idx: Int32Array) => {
      const x = new Float32Array(idx.length * PIXELS);
      idx.forEach((j, i) => x.set(images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS));
      return { x, y: Int32Array.from(idx, (j) => labels[j]) };
    };
    const train = pick(order.slice(0, TRAIN)), test = pick(order.slice(TRAIN, TRAIN + TEST));
    // Normalise by the training set's mean and std, as design.md prescribes.
    let sum = 0, sq = 0;
    for (const v of train.x) { sum += v; sq += v * v; }
    const mean = sum / train.x.length, std = Math.sqrt(sq / train.x.length - mean * mean);
    for (const set of [train, test]) for (let i = 0; i < set.x.length; i++) set.x[i] = (set.x[i] - mean) / std;

    const model = buildCnn([28, 28, 1], 10, 0);
    const sgd = createSgd(model.trainableVariables);
    const steps = Math.ceil(TRAIN / BATCH);
    for (let s = 0; s < steps; s++) {
      const n = Math.min(BATCH, TRAIN - s * BATCH);
      const x = tf.tensor4d(train.x.subarray(s * BATCH * PIXELS, (s * BATCH + n) * PIXELS), [n, 28, 28, 1]);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(train.y.subarray(s * BATCH, s * BATCH + n), 'int32'), 10).toFloat()) as tf.Tensor2D;
      const loss = ceTrainStep(model, sgd, x, y, cosineLr(s, steps));
      expect(Number.isFinite(loss)).toBe(true);
      tf.dispose([x, y]);
    }
    const predicted = tf.tidy(() => model.apply(tf.tensor4d(test.x, [TEST, 28, 28, 1]), false).logits.argMax(1).dataSync());
    const accuracy = predicted.reduce((a, p, i) => a + (p === test.y[i] ? 1 : 0), 0) / TEST;
    sgd.dispose();
    model.layersModel.dispose();
    console.log(`MNIST: ${(100 * accuracy).toFixed(2)}% on ${TEST} held-out digits after one epoch`);
    expect(accuracy).toBeGreaterThan(0.95);
  });
});
