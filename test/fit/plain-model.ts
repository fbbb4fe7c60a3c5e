/**
 * What a user brings to `ares fit`, made without ares: a small classifier built and trained with
 * plain tfjs, saved as the standard model.json + weights.bin layout (the files tfjs-node's
 * `model.save('file://dir')` writes; pure tfjs has no file:// handler in Node, so the same two files
 * are written here through a save handler with plain fs).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export async function saveLikeTfjsNode(model: tf.LayersModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (a) => {
    const parts = a.weightData === undefined ? [] : Array.isArray(a.weightData) ? a.weightData : [a.weightData];
    const weights = Buffer.concat(parts.map((p) => Buffer.from(p)));
    writeFileSync(join(dir, 'weights.bin'), weights);
    writeFileSync(join(dir, 'model.json'), JSON.stringify({
      modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy ?? null,
      weightsManifest: [{ paths: ['./weights.bin'], weights: a.weightSpecs }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
  }));
}

/** Trains `model` (softmax output) with Adam on [N, ...inputShape] images and integer labels. */
export async function trainPlain(model: tf.LayersModel, x: Float32Array, y: Int32Array, inputShape: number[], numClasses: number, epochs: number): Promise<void> {
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  // One fixed shuffle (the sets are sorted by class; tfjs's own shuffle draws from Math.random).
  const per = x.length / y.length;
  const order = Array.from(y, (_, i) => i);
  let state = 12345;
  for (let i = order.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const xo = new Float32Array(x.length);
  order.forEach((src, i) => xo.set(x.subarray(src * per, (src + 1) * per), i * per));
  const xs = tf.tensor(xo, [y.length, ...inputShape]);
  const ys = tf.oneHot(tf.tensor1d(Int32Array.from(order, (i) => y[i]), 'int32'), numClasses);
  await model.fit(xs, ys, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
  xs.dispose(); ys.dispose();
}

/** A small CNN as people write them with tf.sequential: conv, pool, dense, softmax. */
export function smallCnn(inputShape: [number, number, number], numClasses: number, seed: number): tf.Sequential {
  const k = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape, filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: k(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: k(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: k(3) }),
      tf.layers.dense({ units: numClasses, activation: 'softmax', kernelInitializer: k(4) }),
    ],
  });
}

/**
 * Laid out like a Teachable Machine image model: a base network and a classification head, each a
 * nested Sequential inside the outer one (TM's head is dense(100, relu) → dense(K, softmax)), input
 * pixels in [-1, 1].
 */
export function teachableMachineLike(inputShape: [number, number, number], numClasses: number, seed: number): tf.Sequential {
  const k = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  const base = tf.sequential({
    layers: [
      tf.layers.averagePooling2d({ inputShape, poolSize: 2 }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: k(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: k(2) }),
      tf.layers.flatten(),
    ],
  });
  const head = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [featureDimOf(inputShape)], units: 100, activation: 'relu', kernelInitializer: k(3) }),
      tf.layers.dense({ units: numClasses, activation: 'softmax', kernelInitializer: k(4), useBias: false }),
    ],
  });
  const model = tf.sequential();
  model.add(base);
  model.add(head);
  return model;
}

/** Width after the base network above: avg-pool 2, conv 3 (valid), max-pool 2, conv 3 (valid), 16 filters. */
function featureDimOf([h, w]: [number, number, number]): number {
  const side = (n: number) => Math.floor((Math.floor(n / 2) - 2) / 2) - 2;
  return side(h) * side(w) * 16;
}
