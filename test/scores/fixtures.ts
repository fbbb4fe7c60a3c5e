import * as tf from '@tensorflow/tfjs';
import { fromLayers } from '../../src/models/layers-classifier.js';
import type { Classifier } from '../../src/models/types.js';
import type { Matrix } from '../../src/scores/index.js';
import { Rng } from '../../src/util/rng.js';

/**
 * A constructed case where ID and OOD outputs are clearly separable for every detector:
 * K = 3 classes, d = 6 features. ID features sit at 5·e_c (+ noise), OOD features at the origin with
 * the last three dimensions shifted; logits = h·W with W reading the first three dimensions (×2), so
 * ID logits are peaked (≈10 vs 0) and OOD logits flat.
 */
export const K = 3;
export const D = 6;
export const HEAD = Float32Array.from([2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // [D, K]

export interface Split { features: Matrix; logits: Matrix; labels: Int32Array; }

/**
 * kind 'faint': OOD rows shaped like ID ones at a fifth of the strength (e_c + noise) — the
 * weaker, less class-committed activations that SCALE's premise is about.
 */
export function makeSplit(n: number, kind: 'id' | 'ood' | 'faint', seed: number): Split {
  const rng = new Rng(seed);
  const features = new Float32Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % K;
    labels[i] = c;
    for (let j = 0; j < D; j++) {
      const centre = kind === 'id' ? (j === c ? 5 : 0) : kind === 'faint' ? (j === c ? 1 : 0) : (j >= 3 ? 3 : 0.3);
      features[i * D + j] = centre + 0.5 * rng.normal();
    }
  }
  const logits = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += features[i * D + j] * HEAD[j * K + k];
      logits[i * K + k] = s;
    }
  }
  return { features: { data: features, rows: n, cols: D }, logits: { data: logits, rows: n, cols: K }, labels };
}

/** The same map as a Classifier over [2, 3, 1] "images" (features = the flattened pixels), for ODIN. */
export function makeModel(): Classifier {
  const input = tf.input({ shape: [2, 3, 1] });
  const features = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: K, useBias: false, name: 'head' });
  const logits = head.apply(features) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [logits, features] });
  head.setWeights([tf.tensor2d(HEAD, [D, K])]);
  return fromLayers('cnn', model, head, [2, 3, 1], K, D);
}

export function asImages(m: Matrix): tf.Tensor4D {
  return tf.tensor4d(m.data as Float32Array, [m.rows, 2, 3, 1]);
}
