/**
 * A user's TensorFlow.js classifier, read from disk (model.json + weight shards, and metadata.json
 * when it is a Teachable Machine export), turned into the shape every ares run folder holds:
 * inputs → [logits, features], with the features → logits part as a layer named "head".
 *
 * The model is rebuilt from its own layer objects (weights shared, nothing copied) along its layer
 * chain: nested Sequential models are flattened, a functional model's branching part stays one
 * opaque block in front. That keeps the result a plain tfjs layers model that tf.loadLayersModel
 * reads back anywhere (predict, export, the browser bundle).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AresError } from '../errors.js';
import { MODEL_JSON, isGraphModelJson, parseModelJsonText, validateModelJson } from '../export/model-json.js';
import { parseDetectorJson, type DetectorSpec } from '../run/detector.js';
import { loadLayersModelFromDir, readModelJsonText } from '../run/model-io.js';
import { parseJsonText } from '../util/json-text.js';

type Layer = tf.layers.Layer;
type Sym = tf.SymbolicTensor;

/** Teachable Machine's metadata.json (the fields ares reads). */
export interface TmMetadata {
  labels: string[];
  imageSize?: number;
  packageName?: string;
  tmVersion?: string;
}

export interface LoadedUserModel {
  /** model.json's path. */
  path: string;
  model: tf.LayersModel;
  /** metadata.json beside model.json, when it lists labels. */
  metadata: TmMetadata | null;
  /** A Teachable Machine image export (its inputs are [-1, 1] pixels). */
  teachableMachine: boolean;
  /** The detector.json of the run folder the model sits in (model/ of an ares run): its normalisation and class names. */
  aresRun: DetectorSpec | null;
}

/** Where the logits came from, said in the output and stored in the run's config. */
export type LogitsSource =
  | { kind: 'output'; layer: string }
  | { kind: 'pre-softmax'; layer: string; how: 'dense-activation' | 'softmax-layer' | 'softmax-node' };

export interface ClassifierParts {
  /** inputs → [logits, features]; the features → logits part is the layer "head". */
  model: tf.LayersModel;
  head: Layer;
  inputShape: [number, number, number];
  numClasses: number;
  featureDim: number;
  logits: LogitsSource;
  /** The layer whose output is the features. */
  featuresLayer: string;
  /** The layer chain the choice was made on, for messages. */
  layerNames: string[];
}

/** Accepts the model.json path or the folder holding it. */
export function modelJsonPath(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return join(path, MODEL_JSON);
  return path;
}

export async function loadUserModel(path: string): Promise<LoadedUserModel> {
  const file = modelJsonPath(path);
  if (!existsSync(file)) throw new AresError('model file not found (expected a tfjs model.json)', { file });
  const raw = parseModelJsonText(readModelJsonText(file), file);
  if (raw && typeof raw === 'object' && isGraphModelJson(raw)) {
    throw new AresError('this is a tfjs graph model (converted from a SavedModel or frozen graph); only `ares fit` reads graph models, '
      + 'this needs a tfjs layers model (tf.LayersModel.save, Teachable Machine, tensorflowjs_converter --output_format tfjs_layers_model)', { file, exitCode: 2 });
  }
  validateModelJson(raw, file);
  const model = await loadLayersModelFromDir(dirname(file));
  const metadata = readMetadata(join(dirname(file), 'metadata.json'));
  const teachableMachine = metadata !== null && (metadata.packageName === '@teachablemachine/image' || typeof metadata.tmVersion === 'string');
  const runDetector = join(dirname(file), '..', 'detector.json');
  const aresRun = existsSync(runDetector) ? parseDetectorJson(readFileSync(runDetector, 'utf8'), runDetector) : null;
  return { path: file, model, metadata, teachableMachine, aresRun };
}

export function readMetadata(file: string): TmMetadata | null {
  if (!existsSync(file)) return null;
  const m = parseJsonText(readFileSync(file, 'utf8'), file) as Record<string, unknown> | null;
  if (!m || typeof m !== 'object' || m.labels === undefined) return null;
  if (!Array.isArray(m.labels) || !m.labels.every((l) => typeof l === 'string' && l.length > 0)) {
    throw new AresError('"labels" must be a list of non-empty class names', { file });
  }
  return {
    labels: m.labels as string[],
    imageSize: typeof m.imageSize === 'number' ? m.imageSize : undefined,
    packageName: typeof m.packageName === 'string' ? m.packageName : undefined,
    tmVersion: typeof m.tmVersion === 'string' ? m.tmVersion : undefined,
  };
}

interface InboundNode { inputTensors: Sym[] }
const inbound = (l: Layer) => (l as unknown as { inboundNodes: InboundNode[] }).inboundNodes;
const className = (l: Layer) => l.getClassName();
const isSequential = (l: Layer): l is tf.Sequential => l instanceof tf.Sequential;

/**
 * The model as [opaque prefix?, single-input layers...]: Sequential models (nested ones too) are
 * flattened; for a functional model, the single-input layers at its end are peeled off and what
 * lies before them (branches, merges) stays one block.
 */
export function layerChain(model: tf.LayersModel): { prefix: tf.LayersModel | null; layers: Layer[] } {
  const flat = (l: Layer): Layer[] => (isSequential(l) ? l.layers.flatMap(flat) : [l]);
  if (isSequential(model)) return { prefix: null, layers: model.layers.flatMap(flat) };
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new AresError(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; ares fit needs one image input and one class output`, { exitCode: 2 });
  }
  const tail: Layer[] = [];
  let t: Sym = model.outputs[0];
  for (;;) {
    const layer = t.sourceLayer;
    const nodes = inbound(layer);
    if (className(layer) === 'InputLayer' || nodes.length !== 1 || nodes[0].inputTensors.length !== 1) break;
    tail.unshift(...flat(layer));
    t = nodes[0].inputTensors[0];
  }
  const prefix = t === model.inputs[0] || className(t.sourceLayer) === 'InputLayer' ? null : tf.model({ inputs: model.inputs, outputs: t });
  return { prefix, layers: tail };
}

const activationOf = (l: Layer): string | undefined => {
  const a = (l.getConfig() as { activation?: unknown }).activation;
  return typeof a === 'string' ? a : undefined;
};
const isSoftmaxLayer = (l: Layer) => className(l) === 'Softmax' || (className(l) === 'Activation' && activationOf(l) === 'softmax');

/** A new linear Dense named `name` for the weights of `dense` (set once built: see toClassifierParts). */
function linearCopy(dense: Layer, name: string): Layer {
  const cfg = dense.getConfig() as { units: number; useBias?: boolean };
  return tf.layers.dense({ units: cfg.units, useBias: cfg.useBias !== false, activation: 'linear', name });
}

/**
 * Splits the model at its features. `featuresLayer`: the layer whose output is the features;
 * default the input of the last Dense layer.
 */
export function toClassifierParts(model: tf.LayersModel, opts: { featuresLayer?: string; inputShape?: [number, number, number] } = {}): ClassifierParts {
  const inShape = model.inputs[0].shape;
  const shown = `[${inShape.map((d) => d ?? 'null').join(', ')}]`;
  // A model that reads flat vectors gets images through a Flatten in front (--input-shape says their shape).
  const flatInput = inShape.length === 2 && typeof inShape[1] === 'number';
  if (flatInput && !opts.inputShape) {
    throw new AresError(`the model's input is ${shown}, flat vectors; say which images they are with --input-shape height,width,channels`, { exitCode: 2 });
  }
  if (!flatInput && (inShape.length !== 4 || !inShape.slice(1).every((d) => typeof d === 'number' && d > 0))) {
    throw new AresError(`the model's input is ${shown}; ares fit needs an image input [batch, height, width, channels]`, { exitCode: 2 });
  }
  if (flatInput && opts.inputShape!.reduce((a, b) => a * b, 1) !== inShape[1]) {
    throw new AresError(`--input-shape ${opts.inputShape!.join(',')} has ${opts.inputShape!.reduce((a, b) => a * b, 1)} values; the model reads ${inShape[1]}`, { exitCode: 2 });
  }
  if (!flatInput && opts.inputShape && opts.inputShape.join() !== inShape.slice(1).join()) {
    throw new AresError(`--input-shape ${opts.inputShape.join(',')} differs from the model's input ${shown}`, { exitCode: 2 });
  }
  const inputShape = (flatInput ? [...opts.inputShape!] : inShape.slice(1)) as [number, number, number];
  const own = flatInput ? null : aresClassifier(model, inputShape, opts.featuresLayer);
  if (own) return own;
  const { prefix, layers } = layerChain(model);
  const names = [...(prefix ? [prefix.name] : []), ...layers.map((l) => l.name)];
  const listed = () => `layers in order: ${names.join(', ')}`;
  if (layers.length === 0) throw new AresError(`cannot find the model's class output layer (${listed()})`, { exitCode: 2 });

  // Logits: the model's output, or what enters its final softmax.
  let body = layers;
  let last = layers[layers.length - 1];
  let logits: LogitsSource = { kind: 'output', layer: last.name };
  if (isSoftmaxLayer(last) && layers.length >= 2) {
    body = layers.slice(0, -1);
    last = body[body.length - 1];
    logits = { kind: 'pre-softmax', layer: layers[layers.length - 1].name, how: 'softmax-layer' };
  } else if (activationOf(last) === 'softmax') {
    logits = { kind: 'pre-softmax', layer: last.name, how: 'dense-activation' };
  }
  if (activationOf(last) === 'softmax' && className(last) !== 'Dense') {
    throw new AresError(`the last layer "${last.name}" (${className(last)}) applies softmax itself; ares fit can undo that only for a Dense layer (${listed()})`, { exitCode: 2 });
  }

  // Features: the named layer's output, or the input of the last Dense layer.
  let f: number;
  if (opts.featuresLayer !== undefined) {
    f = body.findIndex((l) => l.name === opts.featuresLayer);
    if (f < 0 || f === body.length - 1) {
      throw new AresError(`--features "${opts.featuresLayer}" is not a layer before the logits; ${listed()}`, { exitCode: 2 });
    }
  } else {
    const lastDense = body.map(className).lastIndexOf('Dense');
    if (lastDense <= 0) {
      throw new AresError(`cannot decide which layer gives the features (no Dense layer with a layer before it); pass --features <layer>; ${listed()}`, { exitCode: 2 });
    }
    f = lastDense - 1;
  }
  if (names.includes('head') && !(body.length - f === 2 && last.name === 'head')) {
    throw new AresError(`the model has a layer named "head", the name ares gives its features → logits layer; rename it (${listed()})`, { exitCode: 2 });
  }

  const input = tf.input({ shape: inputShape, name: 'ares_input' });
  let x: Sym = flatInput ? tf.layers.flatten({ name: 'ares_flatten_input' }).apply(input) as Sym : input;
  if (prefix) x = prefix.apply(x) as Sym;
  for (const l of body.slice(0, f + 1)) x = l.apply(x) as Sym;
  const features = x;
  if (features.shape.length !== 2) {
    throw new AresError(`layer "${body[f].name}" outputs [${features.shape.map((d) => d ?? 'null').join(', ')}]; the features must be flat [batch, d] (choose a layer after Flatten or pooling with --features); ${listed()}`, { exitCode: 2 });
  }
  const featureDim = features.shape[1] as number;
  const tail = body.slice(f + 1);
  const lastLayer = className(last) === 'Dense' ? linearCopy(last, tail.length === 1 ? 'head' : `${last.name}_logits`) : last;
  let head: Layer;
  if (tail.length === 1) {
    head = lastLayer;
  } else {
    const hIn = tf.input({ shape: [featureDim], name: 'ares_head_input' });
    let h: Sym = hIn;
    for (const l of [...tail.slice(0, -1), lastLayer]) h = l.apply(h) as Sym;
    head = tf.model({ inputs: hIn, outputs: h, name: 'head' });
  }
  const out = head.apply(features) as Sym;
  if (lastLayer !== last) lastLayer.setWeights(last.getWeights());
  if (out.shape.length !== 2) throw new AresError(`the model's output is [${out.shape.join(', ')}]; a classifier outputs [batch, classes]`, { exitCode: 2 });
  const numClasses = out.shape[1] as number;
  const built = tf.model({ inputs: input, outputs: [out, features], name: 'ares_fitted' });
  return { model: built, head, inputShape, numClasses, featureDim, logits, featuresLayer: body[f].name, layerNames: names };
}

/** A model ares saved (a run folder's model/): already inputs → [logits, features] with its "head". */
function aresClassifier(model: tf.LayersModel, inputShape: [number, number, number], featuresLayer?: string): ClassifierParts | null {
  if (model.outputs.length !== 2 || featuresLayer !== undefined) return null;
  const head = model.layers.find((l) => l.name === 'head');
  const [logits, features] = model.outputs;
  if (!head || logits.sourceLayer !== head || features.shape.length !== 2 || logits.shape.length !== 2) return null;
  return {
    model, head, inputShape, numClasses: logits.shape[1] as number, featureDim: features.shape[1] as number,
    logits: { kind: 'output', layer: 'head' }, featuresLayer: features.sourceLayer.name, layerNames: model.layers.map((l) => l.name),
  };
}

/** One line for the output and the run's config. */
export function describeLogits(s: LogitsSource): string {
  if (s.kind === 'output') return `the model's output (layer "${s.layer}")`;
  if (s.how === 'softmax-node') return `the input of the graph's final Softmax node "${s.layer}"`;
  return s.how === 'dense-activation'
    ? `the pre-softmax values of layer "${s.layer}" (its softmax left out)`
    : `the input of the final softmax layer "${s.layer}"`;
}
