import * as tf from '@tensorflow/tfjs';
import type { Classifier } from './types.js';
import { fromLayers } from './layers-classifier.js';

type T = tf.SymbolicTensor;

/** Seeded He-normal initialisers, one per layer, so the same seed gives the same network. */
function initSequence(seed: number) {
  // Offset by one: tfjs treats a seed of 0 as "no seed".
  let s = seed * 1000 + 1;
  return () => tf.initializers.heNormal({ seed: s++ });
}

const bn = (x: T) => tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as T;
const relu = (x: T) => tf.layers.reLU().apply(x) as T;
const add = (a: T, b: T) => tf.layers.add().apply([a, b]) as T;

function conv(x: T, filters: number, kernelSize: number, strides: number, init: () => ReturnType<typeof tf.initializers.heNormal>): T {
  return tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x) as T;
}

/**
 * ResNet-18, CIFAR variant (3×3 stem, no stem max-pool), as used by OpenOOD for 32×32 inputs:
 * four stages of two basic blocks (64, 128, 256, 512 channels), global average pool → features (d = 512).
 */
export function buildResnet18(inputShape: [number, number, number], numClasses: number, seed = 0): Classifier {
  const init = initSequence(seed);
  const input = tf.input({ shape: inputShape });
  let x = relu(bn(conv(input, 64, 3, 1, init)));
  let channels = 64;
  for (const [width, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]] as const) {
    for (let block = 0; block < 2; block++) {
      const s = block === 0 ? stride : 1;
      let shortcut = x;
      if (s !== 1 || channels !== width) shortcut = bn(conv(x, width, 1, s, init));
      let y = relu(bn(conv(x, width, 3, s, init)));
      y = bn(conv(y, width, 3, 1, init));
      x = relu(add(y, shortcut));
      channels = width;
    }
  }
  const features = tf.layers.globalAveragePooling2d({}).apply(x) as T;
  const head = tf.layers.dense({ units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }), name: 'head' });
  const logits = head.apply(features) as T;
  return fromLayers('resnet18', tf.model({ inputs: input, outputs: [logits, features] }), head, inputShape, numClasses, 512);
}

/**
 * WideResNet-40-2, the paper's backbone: pre-activation wide basic blocks, 6 per group,
 * widths 32, 64, 128 (16·k with k = 2), strides 1, 2, 2; BN-ReLU, global average pool → features (d = 128).
 * Dropout is omitted (the OE/VOS code uses 0.3 only in some configurations; the paper does not say).
 */
export function buildWrn40x2(inputShape: [number, number, number], numClasses: number, seed = 0): Classifier {
  const init = initSequence(seed);
  const blocksPerGroup = (40 - 4) / 6;
  const input = tf.input({ shape: inputShape });
  let x = conv(input, 16, 3, 1, init);
  let channels = 16;
  for (const [width, stride] of [[32, 1], [64, 2], [128, 2]] as const) {
    for (let block = 0; block < blocksPerGroup; block++) {
      const s = block === 0 ? stride : 1;
      const pre = relu(bn(x));
      // When the shape changes, the shortcut branches off the pre-activated input (as in the original WRN).
      const shortcut = channels !== width || s !== 1 ? conv(pre, width, 1, s, init) : x;
      let y = conv(pre, width, 3, s, init);
      y = conv(relu(bn(y)), width, 3, 1, init);
      x = add(y, shortcut);
      channels = width;
    }
  }
  const features = tf.layers.globalAveragePooling2d({}).apply(relu(bn(x))) as T;
  const head = tf.layers.dense({ units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }), name: 'head' });
  const logits = head.apply(features) as T;
  return fromLayers('wrn40-2', tf.model({ inputs: input, outputs: [logits, features] }), head, inputShape, numClasses, 128);
}
