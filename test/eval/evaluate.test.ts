import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../src/eval/evaluate.js';
import type { PreparedDataset } from '../../src/data/prepare.js';
import type { ImageSet } from '../../src/data/types.js';
import type { Classifier } from '../../src/models/types.js';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** A 1-pixel "classifier": logits [10·x, 0], features [x]. Higher pixel → lower energy → more ID. */
const fake: Classifier = {
  name: 'cnn', inputShape: [1, 1, 1], numClasses: 2, featureDim: 1,
  apply: (x) => tf.tidy(() => {
    const f = tf.reshape(x, [x.shape[0], 1]) as tf.Tensor2D;
    return { logits: tf.concat([tf.mul(f, 10), tf.zerosLike(f)], 1) as tf.Tensor2D, features: f };
  }),
  head: (f) => tf.concat([tf.mul(f, 10), tf.zerosLike(f)], 1) as tf.Tensor2D,
  trainableVariables: [], allVariables: [],
  layersModel: null as unknown as tf.LayersModel,
};

const set = (name: string, values: number[], labelled = true): ImageSet => ({
  name, shape: [1, 1, 1], count: values.length, images: Float32Array.from(values), split: 'all',
  ...(labelled ? { labels: new Int32Array(values.length), classNames: ['a', 'b'] } : {}),
});

describe('evaluate: validation OOD metrics', () => {
  it('compare the validation OOD set with the ID validation scores, not the ID test scores', () => {
    // ID test images score high (x = 1), ID validation images low (x = 0), the validation OOD set in
    // between (x = 0.5): separable from the test split, inseparable (wrong side) from the validation split.
    const data: PreparedDataset = {
      train: set('train', [0, 1]), val: set('val', Array(20).fill(0)), test: set('test', Array(30).fill(1)),
      ood: [set('ood', Array(10).fill(0.5), false)], valOod: [set('valood', Array(10).fill(0.5), false)],
      normalization: { mean: [0], std: [1] }, classNames: ['a', 'b'], shape: [1, 1, 1],
    };
    const r = evaluate(fake, data, { scores: ['energy'] });
    const v = r.valOod[0].metrics;
    expect(v.nId).toBe(20);
    expect(v.auroc).toBeLessThan(0.01);
    expect(v.fpr).toBeCloseTo(1, 6);
    // The test OOD rows still use the test split.
    expect(r.ood[0].metrics.nId).toBe(30);
    expect(r.ood[0].metrics.auroc).toBeGreaterThan(0.99);
  });
});
