/**
 * A tfjs graph model made without the Python converter: the GraphDef JSON (the format
 * tensorflowjs_converter writes for a SavedModel: model.json with `format: "graph-model"`,
 * `modelTopology: {node: [...]}` and a weightsManifest naming the Const nodes) is written by hand for
 * the network of smallCnn (plain-model.ts), and the trained layers model's weights are put into it.
 * Attribute formats follow tfjs-converter's op mappers: strings base64, int lists as `list.i`.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Attr = Record<string, unknown>;
interface Node { name: string; op: string; input?: string[]; attr?: Attr }

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (v: number[]) => ({ list: { i: v.map(String) } });
const F = { type: 'DT_FLOAT' };

export interface GraphModelOptions {
  /** End the graph with a Softmax node (like a converted Keras model) rather than the logits. Default true. */
  softmax?: boolean;
  /** Write the last MatMul with transpose_b and its kernel stored transposed ([K, d]). */
  transposeHead?: boolean;
}

/**
 * Writes `model` (smallCnn's layer layout: conv, pool, conv, pool, flatten, dense relu, dense) as a
 * graph model into `dir`. Node names: input, c1/…, p1, c2/…, p2, flat/Reshape, d1/MatMul, d1/BiasAdd,
 * d1/Relu, d2/MatMul, d2/BiasAdd (the logits), probs (Softmax).
 */
export function saveAsGraphModel(model: tf.LayersModel, inputShape: [number, number, number], dir: string, opts: GraphModelOptions = {}): void {
  const [conv1, , conv2, , , dense1, dense2] = model.layers;
  const nodes: Node[] = [];
  const weights: { name: string; shape: number[]; dtype: 'float32' | 'int32'; data: Float32Array | Int32Array }[] = [];
  const constant = (name: string, t: tf.Tensor | Int32Array, shape?: number[]) => {
    const isInt = t instanceof Int32Array;
    const data = isInt ? t : (t.dataSync() as Float32Array);
    const s = shape ?? (isInt ? [t.length] : (t as tf.Tensor).shape);
    weights.push({ name, shape: s, dtype: isInt ? 'int32' : 'float32', data });
    nodes.push({ name, op: 'Const', attr: { dtype: { type: isInt ? 'DT_INT32' : 'DT_FLOAT' }, value: { tensor: { dtype: isInt ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: s.map((d) => ({ size: String(d) })) } } } } });
    return name;
  };
  nodes.push({ name: 'input', op: 'Placeholder', attr: { dtype: F, shape: { shape: { dim: [-1, ...inputShape].map((d) => ({ size: String(d) })) } } } });
  const conv = (p: string, x: string, layer: tf.layers.Layer) => {
    const [k, b] = layer.getWeights();
    nodes.push({ name: `${p}/Conv2D`, op: 'Conv2D', input: [x, constant(`${p}/kernel`, k)], attr: { T: F, strides: ints([1, 1, 1, 1]), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]) } });
    nodes.push({ name: `${p}/BiasAdd`, op: 'BiasAdd', input: [`${p}/Conv2D`, constant(`${p}/bias`, b)], attr: { T: F, data_format: { s: b64('NHWC') } } });
    nodes.push({ name: `${p}/Relu`, op: 'Relu', input: [`${p}/BiasAdd`], attr: { T: F } });
    return `${p}/Relu`;
  };
  const pool = (name: string, x: string) => {
    nodes.push({ name, op: 'MaxPool', input: [x], attr: { T: F, ksize: ints([1, 2, 2, 1]), strides: ints([1, 2, 2, 1]), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') } } });
    return name;
  };
  let x = pool('p2', conv('c2', pool('p1', conv('c1', 'input', conv1)), conv2));
  const [k1, b1] = dense1.getWeights();
  nodes.push({ name: 'flat/Reshape', op: 'Reshape', input: [x, constant('flat/shape', Int32Array.from([-1, k1.shape[0]]))], attr: { T: F, Tshape: { type: 'DT_INT32' } } });
  nodes.push({ name: 'd1/MatMul', op: 'MatMul', input: ['flat/Reshape', constant('d1/kernel', k1)], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: false } } });
  nodes.push({ name: 'd1/BiasAdd', op: 'BiasAdd', input: ['d1/MatMul', constant('d1/bias', b1)], attr: { T: F } });
  nodes.push({ name: 'd1/Relu', op: 'Relu', input: ['d1/BiasAdd'], attr: { T: F } });
  x = 'd1/Relu';
  const [k2, b2] = dense2.getWeights();
  const kernel = opts.transposeHead ? tf.tidy(() => k2.transpose()) : k2;
  nodes.push({ name: 'd2/MatMul', op: 'MatMul', input: [x, constant('d2/kernel', kernel)], attr: { T: F, transpose_a: { b: false }, transpose_b: { b: Boolean(opts.transposeHead) } } });
  if (kernel !== k2) kernel.dispose();
  nodes.push({ name: 'd2/BiasAdd', op: 'BiasAdd', input: ['d2/MatMul', constant('d2/bias', b2)], attr: { T: F } });
  if (opts.softmax !== false) nodes.push({ name: 'probs', op: 'Softmax', input: ['d2/BiasAdd'], attr: { T: F } });

  const bytes = Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)));
  mkdirSync(dir, { recursive: true });
  // Two shards, as the converter splits large models: the loader must read them in manifest order.
  const half = weights.findIndex((w) => w.name === 'd1/kernel');
  const cut = weights.slice(0, half).reduce((n, w) => n + w.data.byteLength, 0);
  writeFileSync(join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, cut));
  writeFileSync(join(dir, 'group1-shard2of2.bin'), bytes.subarray(cut));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({
    format: 'graph-model', generatedBy: '2.15.0', convertedBy: 'TensorFlow.js Converter v4.22.0 (written by hand in the test)',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1482 } },
    weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }],
  }));
}
