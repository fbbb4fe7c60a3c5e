import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/backend.js';
import { loadUserModel, toClassifierParts, resolveNormalization } from '../../src/fit/index.js';
import { matchClasses } from '../../src/fit/classes.js';
import { buildModel, classifierFromSaved } from '../../src/models/index.js';
import { loadLayersModelFromDir, saveLayersModel } from '../../src/run/model-io.js';
import { tempDir, expectAresError } from '../run/helpers.js';
import { saveLikeTfjsNode, teachableMachineLike } from './plain-model.js';

/**
 * How a user's model is split into logits and features, checked against the model's own forward
 * pass: softmax(logits) must be the model's output, and the features the named layer's output.
 */
const { dir, cleanup } = tempDir('fit-load');
afterAll(cleanup);
beforeAll(async () => { await initEngine({ backend: 'cpu' }); });

const x = () => tf.randomUniform([3, 12, 12, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
const close = (a: tf.Tensor, b: tf.Tensor) => Math.max(...(tf.abs(tf.sub(a, b)).dataSync() as Float32Array));

/** Saves and reloads a rebuilt model (what a run folder does), returning its [logits, features]. */
async function roundTrip(model: tf.LayersModel, name: string, input: tf.Tensor): Promise<tf.Tensor[]> {
  await saveLayersModel(model, join(dir, name));
  const back = classifierFromSaved(await loadLayersModelFromDir(join(dir, name)), 'cnn');
  const out = back.apply(input as tf.Tensor4D, false);
  return [out.logits, out.features];
}

describe('toClassifierParts', () => {
  it('functional model with a residual block: logits before the Dense softmax, features at the last Dense input; survives save/load', async () => {
    const inp = tf.input({ shape: [12, 12, 3] });
    const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }).apply(inp) as tf.SymbolicTensor;
    const c2 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c2' }).apply(c1) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'residual' }).apply([c1, c2]) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({ name: 'flat' }).apply(sum) as tf.SymbolicTensor;
    const hid = tf.layers.dense({ units: 10, activation: 'relu', name: 'hidden' }).apply(flat) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'probs' }).apply(hid) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    const parts = toClassifierParts(model);
    expect(parts.logits).toEqual({ kind: 'pre-softmax', layer: 'probs', how: 'dense-activation' });
    expect(parts.featuresLayer).toBe('hidden');
    expect([parts.numClasses, parts.featureDim]).toEqual([4, 10]);
    const input = x();
    const [logits, features] = parts.model.predict(input) as tf.Tensor[];
    expect(close(tf.softmax(logits), model.predict(input) as tf.Tensor)).toBeLessThan(1e-6);
    const hiddenOut = tf.model({ inputs: inp, outputs: hid }).predict(input) as tf.Tensor;
    expect(close(features, hiddenOut)).toBe(0);
    const [l2, f2] = await roundTrip(parts.model, 'functional', input);
    expect(close(l2, logits)).toBeLessThan(1e-6);
    expect(close(f2, features)).toBe(0);
  });

  it('--features at an earlier layer makes the head a small model of the layers after it', async () => {
    const model = teachableMachineLike([12, 12, 3], 3, 1);
    const names = toClassifierParts(model).layerNames;
    const flatName = names.find((n) => /flatten/i.test(n))!;
    const parts = toClassifierParts(model, { featuresLayer: flatName });
    expect(parts.featuresLayer).toBe(flatName);
    expect(parts.head.name).toBe('head');
    const input = x();
    const [logits] = parts.model.predict(input) as tf.Tensor[];
    expect(close(tf.softmax(logits), model.predict(input) as tf.Tensor)).toBeLessThan(1e-6);
    const [l2] = await roundTrip(parts.model, 'earlier', input);
    expect(close(l2, logits)).toBeLessThan(1e-6);
  });

  it('a model that reads flat vectors gets the images through a Flatten (--input-shape)', async () => {
    const mlp = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [432], units: 16, activation: 'relu', name: 'hidden' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    });
    const parts = toClassifierParts(mlp, { inputShape: [12, 12, 3] });
    expect(parts.inputShape).toEqual([12, 12, 3]);
    expect(parts.featuresLayer).toBe('hidden');
    const input = x();
    const [logits] = parts.model.predict(input) as tf.Tensor[];
    expect(close(tf.softmax(logits), mlp.predict(input.reshape([3, 432])) as tf.Tensor)).toBeLessThan(1e-6);
    const [l2] = await roundTrip(parts.model, 'mlp', input);
    expect(close(l2, logits)).toBeLessThan(1e-6);
  });

  it('Teachable Machine\'s real layout: a functional base model (MobileNet there) nested in the outer Sequential, read from disk', async () => {
    const bIn = tf.input({ shape: [12, 12, 3] });
    const b1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(bIn) as tf.SymbolicTensor;
    const b2 = tf.layers.add().apply([b1, tf.layers.conv2d({ filters: 4, kernelSize: 1 }).apply(b1) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const base = tf.model({ inputs: bIn, outputs: tf.layers.globalAveragePooling2d({}).apply(b2) as tf.SymbolicTensor });
    const head = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    const outer = tf.sequential();
    outer.add(base);
    outer.add(head);
    const d = join(dir, 'tm-functional');
    await saveLikeTfjsNode(outer, d);
    const user = await loadUserModel(d);
    const parts = toClassifierParts(user.model);
    expect(parts.featureDim).toBe(8);
    const input = x();
    const [logits] = parts.model.predict(input) as tf.Tensor[];
    expect(close(tf.softmax(logits), outer.predict(input) as tf.Tensor)).toBeLessThan(1e-6);
    const [l2] = await roundTrip(parts.model, 'tm-functional-run', input);
    expect(close(l2, logits)).toBeLessThan(1e-6);
  });

  it('a model ares saved is used as it is', async () => {
    const c = buildModel('cnn', [12, 12, 1], 3, 0);
    const parts = toClassifierParts(c.layersModel);
    expect(parts.model).toBe(c.layersModel);
    expect([parts.numClasses, parts.featureDim]).toEqual([3, 128]);
  });

  it('clear errors: no image input, no Dense to take features from, GraphModel, non-flat features', async () => {
    const flatIn = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 3, activation: 'softmax' })] });
    await expectAresError(() => toClassifierParts(flatIn), /input is \[null, 784\], flat vectors; .*--input-shape/);
    await expectAresError(() => toClassifierParts(flatIn, { inputShape: [28, 28, 3] }), /has 2352 values; the model reads 784/);
    const rank3 = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [10, 2], filters: 2, kernelSize: 3 })] });
    await expectAresError(() => toClassifierParts(rank3), /needs an image input \[batch, height, width, channels\]/);
    const convOnly = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 8, name: 'only' }), tf.layers.flatten({ name: 'fl' })] });
    await expectAresError(() => toClassifierParts(convOnly), /cannot decide which layer gives the features/, /layers in order: only, fl/);
    const seq = teachableMachineLike([12, 12, 3], 3, 1);
    const convName = toClassifierParts(seq).layerNames.find((n) => /conv/i.test(n))!;
    await expectAresError(() => toClassifierParts(seq, { featuresLayer: convName }), /features must be flat/);
    const g = join(dir, 'graph');
    mkdirSync(g, { recursive: true });
    writeFileSync(join(g, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
    await expectAresError(() => loadUserModel(g), /graph model/, /tfjs_layers_model/);
    await expectAresError(() => loadUserModel(join(dir, 'nothing')), /model file not found/);
  });

  it('reads a saved model folder and its metadata', async () => {
    const d = join(dir, 'tm');
    await saveLikeTfjsNode(teachableMachineLike([12, 12, 3], 2, 3), d);
    writeFileSync(join(d, 'metadata.json'), JSON.stringify({ labels: ['cat', 'dog'], packageName: '@teachablemachine/image', imageSize: 12 }));
    const u = await loadUserModel(d);
    expect(u.teachableMachine).toBe(true);
    expect(u.metadata?.labels).toEqual(['cat', 'dog']);
    writeFileSync(join(d, 'metadata.json'), JSON.stringify({ labels: ['cat', 7] }));
    await expectAresError(() => loadUserModel(d), /"labels" must be a list/);
  });
});

describe('input range and class matching', () => {
  it('maps a pixel range to mean/std on [0, 1] pixels', () => {
    expect(resolveNormalization({}, 3, true).normalization).toEqual({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(resolveNormalization({}, 1, false).normalization).toEqual({ mean: [0], std: [1] });
    const r = resolveNormalization({ inputRange: [0, 255] }, 1, false).normalization;
    expect(r.std[0]).toBeCloseTo(1 / 255, 12);
    expect(resolveNormalization({ mean: [0.1], std: [0.2] }, 3, false).normalization).toEqual({ mean: [0.1, 0.1, 0.1], std: [0.2, 0.2, 0.2] });
    expect(() => resolveNormalization({ inputRange: [0, 1], mean: [0] }, 1, false)).toThrow(/either --input-range or --mean/);
  });

  it('matches by name (any order, case-insensitive), by index, and says what does not fit', () => {
    expect(matchClasses(['a', 'b', 'c'], 3, ['C', 'a', 'b'], undefined, 'm').order).toEqual([2, 0, 1]);
    expect(matchClasses(['a', 'b', 'c'], 3, ['x', 'y', 'z'], 'index', 'm')).toMatchObject({ by: 'index', order: [0, 1, 2], classNames: ['x', 'y', 'z'] });
    expect(matchClasses(['a', 'b'], 2, null, undefined, 'm')).toMatchObject({ by: 'index', classNames: ['a', 'b'] });
    expect(() => matchClasses(['a', 'b', 'c'], 2, null, undefined, 'm')).toThrow(/3 classes .* 2 outputs/);
    expect(() => matchClasses(['a', 'b'], 2, ['a', 'b', 'c'], undefined, 'm')).toThrow(/lists 3 labels but the model has 2 outputs/);
    expect(() => matchClasses(['a', 'b'], 2, ['a', 'q'], undefined, 'm')).toThrow(/no ID class named "q"/);
  });
});
