import * as tf from '@tensorflow/tfjs';
import type { Classifier } from './types.js';
import { fromLayers } from './layers-classifier.js';

/**
 * The reference CNN of design.md, the benchmark's fixed model:
 * [conv3x3-BN-ReLU] x2 (32), maxpool2, [conv3x3-BN-ReLU] x2 (64), maxpool2,
 * flatten, dense(128)-BN-ReLU (features, d = 128), dense(K).
 * Convolutions feed batch norm, so they carry no bias (BN's beta plays that role).
 */
export function buildCnn(inputShape: [number, number, number], numClasses: number, seed = 0): Classifier {
  // Offset by one: tfjs treats a seed of 0 as "no seed" (MPRandGauss uses `seed ? seed : Math.random()`).
  let s = seed * 1000 + 1;
  const init = () => tf.initializers.heNormal({ seed: s++ });
  const input = tf.input({ shape: inputShape });
  let x: tf.SymbolicTensor = input;
  const convBnRelu = (filters: number) => {
    x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  };
  convBnRelu(32); convBnRelu(32);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  convBnRelu(64); convBnRelu(64);
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 128, useBias: false, kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as tf.SymbolicTensor;
  const features = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }), name: 'head' });
  const logits = head.apply(features) as tf.SymbolicTensor;
  return fromLayers('cnn', tf.model({ inputs: input, outputs: [logits, features] }), head, inputShape, numClasses, 128);
}
