import * as tf from '@tensorflow/tfjs';
import { batchNormTrain, fastBatchNormAvailable } from './kernels/batch-norm.js';

/**
 * Routes tfjs-layers' BatchNormalization in training mode through the fused wasm kernel
 * (kernels/batch-norm.ts), for every model, built here or loaded. Only the training forward
 * changes, and it computes what the original computes: y from the batch's mean and biased
 * variance, then the same moving-average updates. Inference, other axes, other backends and
 * channel counts the kernel does not cover keep the original code path.
 */

interface BnLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor; write(t: tf.Tensor): void };
  movingVariance: { read(): tf.Tensor; write(t: tf.Tensor): void };
}
type CallFn = (this: BnLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor;

let patched = false;

export function patchBatchNormalization(): void {
  if (patched) return;
  patched = true;
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: CallFn };
  const original = proto.call;
  proto.call = function (inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs?.['training'] === true;
    const lastAxis = this.axis === -1 || this.axis === input.rank - 1;
    if (!training || Array.isArray(inputs) && inputs.length !== 1 || !lastAxis || !this.center || !this.scale
      || !this.gamma || !this.beta || !fastBatchNormAvailable(input)) {
      return original.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(input, this.gamma!.read() as tf.Tensor1D,
        this.beta!.read() as tf.Tensor1D, this.epsilon);
      // Same update as tfjs-layers: moving -= (moving - batch) * (1 - momentum).
      const decay = 1 - this.momentum;
      for (const [v, batch] of [[this.movingMean, mean], [this.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const orig = v.read();
          v.write(tf.sub(orig, tf.mul(tf.sub(orig, batch), decay)));
        });
      }
      return y;
    });
  };
}

type MergeFn = (this: unknown, inputs: tf.Tensor[]) => tf.Tensor;

/**
 * Residual adds without saved inputs: tfjs's Add gradient saves both inputs only to read their
 * shapes for broadcasting, which keeps one extra activation per residual block (the last
 * convolution's output) alive until the backward pass. For two inputs of one shape the gradient
 * of each is dy itself, so layers.add computes the same sum through a custom gradient that
 * saves nothing. Other cases keep the original code path.
 */
const addSameShape = tf.customGrad(((a: tf.Tensor, b: tf.Tensor) => ({
  value: tf.add(a, b),
  // Reshape gives each input its own tensor object over dy's data.
  gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, a.shape), tf.reshape(dy, b.shape)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

let addPatched = false;

export function patchAddLayer(): void {
  if (addPatched) return;
  addPatched = true;
  const proto = Object.getPrototypeOf(tf.layers.add({})) as { mergeFunction: MergeFn };
  const original = proto.mergeFunction;
  proto.mergeFunction = function (inputs) {
    if (inputs.length !== 2 || !tf.util.arraysEqual(inputs[0].shape, inputs[1].shape)
      || inputs[0].dtype !== 'float32' || inputs[1].dtype !== 'float32') {
      return original.call(this, inputs);
    }
    return addSameShape(inputs[0], inputs[1]);
  };
}

type FusedConvArgs = Parameters<typeof tf.fused.conv2d>[0];
let convPatched = false;

/**
 * Convolutions without bias or activation as plain Conv2D while a gradient is being recorded.
 * tfjs-layers runs every convolution through tf.fused.conv2d, whose gradient keeps the layer's
 * output alive as well as its input (it needs it only for a fused activation); in a residual
 * block that output is the branch just before the add, one more activation per block held until
 * the backward pass. Conv2D saves only its input and filter, and on wasm runs the same kernel.
 */
export function patchFusedConv2d(): void {
  if (convPatched) return;
  convPatched = true;
  const fused = tf.fused as { conv2d: (args: FusedConvArgs) => tf.Tensor };
  const original = fused.conv2d;
  fused.conv2d = (args) => {
    const linear = args.activation == null || args.activation === 'linear';
    const recording = (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
    if (!recording || !linear || args.bias != null || args.preluActivationWeights != null) return original(args);
    return tf.conv2d(args.x as tf.Tensor4D, args.filter as tf.Tensor4D, args.strides, args.pad, args.dataFormat,
      args.dilations, args.dimRoundingMode);
  };
}

interface SymbolicLike { id: number; sourceLayer?: { stateful?: boolean } }
interface GraphNode {
  outboundLayer: {
    apply(x: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
    computeMask(x: tf.Tensor | tf.Tensor[], m: unknown): tf.Tensor | tf.Tensor[] | null;
    supportsMasking: boolean;
  };
  inputTensors: SymbolicLike[];
  outputTensors: SymbolicLike[];
}
interface ContainerLike {
  inputs: SymbolicLike[];
  outputs: SymbolicLike[];
  nodesByDepth: Record<string, GraphNode[]>;
}
type CallGraph = (this: ContainerLike, inputs: tf.Tensor | tf.Tensor[], kwargs?: Record<string, unknown>) => tf.Tensor[];
let graphPatched = false;

const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

/**
 * A model's forward pass that disposes each layer's output once every layer reading it has run,
 * as PyTorch frees a tensor when its last reference goes. tfjs-layers does this at inference but
 * in training mode keeps every layer output until the model's call returns, so a training step
 * held the batch-norm outputs and other tensors the backward pass never reads next to the ones it
 * does. The gradient tape keeps its own references to what the backward pass reads, so freeing
 * the layer outputs early changes no value. Layers run in the graph's depth order, with the same
 * arguments and masks as tfjs-layers' executor.
 */
export function patchModelForward(): void {
  if (graphPatched) return;
  graphPatched = true;
  const proto = tf.LayersModel.prototype as unknown as { call: CallGraph };
  proto.call = function (inputs, kwargs) {
    return tf.tidy(() => runGraph(this, asList(inputs), kwargs));
  };
}

function runGraph(model: ContainerLike, inputs: tf.Tensor[], kwargs: Record<string, unknown> | undefined): tf.Tensor[] {
  const depths = Object.keys(model.nodesByDepth).map(Number).sort((a, b) => b - a);
  const nodes = depths.flatMap((d) => model.nodesByDepth[d]);
  const readers = new Map<number, number>();
  for (const node of nodes) for (const x of node.inputTensors) readers.set(x.id, (readers.get(x.id) ?? 0) + 1);
  const pinned = new Set([...model.inputs, ...model.outputs].map((x) => x.id));
  const values = new Map<number, tf.Tensor>();
  const masks = new Map<number, tf.Tensor | null>();
  const holders = new Map<tf.Tensor, number>(); // symbolic tensors a concrete tensor stands for
  const hold = (id: number, t: tf.Tensor) => { values.set(id, t); holders.set(t, (holders.get(t) ?? 0) + 1); };
  model.inputs.forEach((x, i) => hold(x.id, inputs[i]));
  for (const node of nodes) {
    // Input layers' nodes stand for values already fed; the others wait until their inputs exist.
    if (node.outputTensors.every((o) => values.has(o.id)) || !node.inputTensors.every((x) => values.has(x.id))) continue;
    const layer = node.outboundLayer;
    const xs = node.inputTensors.map((x) => values.get(x.id)!);
    const ms = node.inputTensors.map((x) => masks.get(x.id) ?? null);
    let args = kwargs;
    if (ms.some((m) => m != null)) args = { ...(kwargs ?? {}), mask: ms[0] };
    const x = xs.length === 1 ? xs[0] : xs;
    const outs = asList(layer.apply(x, args ?? {}));
    const outMask = layer.supportsMasking ? layer.computeMask(x, ms.length === 1 ? ms[0] : ms) : null;
    node.outputTensors.forEach((o, i) => {
      hold(o.id, outs[i]);
      masks.set(o.id, Array.isArray(outMask) ? outMask[0] : outMask);
    });
    for (const s of node.inputTensors) {
      const left = readers.get(s.id)! - 1;
      readers.set(s.id, left);
      // Stateful layers may hand their outputs on to the next call (tfjs-layers keeps them too).
      if (left > 0 || pinned.has(s.id) || s.sourceLayer?.stateful === true) continue;
      const t = values.get(s.id)!;
      values.delete(s.id);
      const n = holders.get(t)! - 1;
      holders.set(t, n);
      if (n === 0 && !(t instanceof tf.Variable)) t.dispose();
    }
  }
  return model.outputs.map((o) => {
    const t = values.get(o.id);
    if (!t) throw new Error(`internal: model output ${o.id} was not computed`);
    return t;
  });
}
