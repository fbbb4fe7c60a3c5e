import * as tf from '@tensorflow/tfjs';

type T = tf.SymbolicTensor;

/**
 * MobileNetV2 (width 1.0) as torchvision.models.mobilenet_v2 builds it, for `ares bench`: a 3x3
 * stride-2 stem (32 channels), 17 inverted residual blocks (1x1 expansion, depthwise 3x3, linear
 * 1x1 projection; a residual add where stride is 1 and width unchanged), a 1x1 convolution to
 * 1280 channels, global average pool, dropout 0.2 and a dense head. Convolutions carry no bias and
 * are followed by batch norm (eps 1e-5, as PyTorch's); activations are ReLU6. 3,504,872 trainable
 * parameters at 1000 classes, as torchvision's. One difference: 'same' padding of a stride-2 3x3
 * convolution on an even size pads bottom/right only where PyTorch pads 1 on every side, which
 * shifts the sampling grid by one pixel and leaves the work unchanged.
 */

/** torchvision's inverted residual setting: expansion t, output channels c, repeats n, first stride s. */
export const MOBILENETV2_BLOCKS: ReadonlyArray<readonly [t: number, c: number, n: number, s: number]> = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

/** ReLU6 as one Relu6 kernel (tfjs-layers' reLU({maxValue: 6}) runs Relu then ClipByValue). */
class ReLU6 extends tf.layers.Layer {
  static className = 'AresReLU6';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.relu6(Array.isArray(inputs) ? inputs[0] : inputs);
  }
  override getClassName(): string { return ReLU6.className; }
}
tf.serialization.registerClass(ReLU6);

/** A convolution (plain or depthwise) followed by batch norm and, unless linear, ReLU6. */
export interface ConvBn {
  conv: tf.layers.Layer;
  bn: tf.layers.Layer;
  depthwise: boolean;
  strides: number;
  relu6: boolean;
}

/** One inverted residual block: optional 1x1 expansion, depthwise 3x3, linear 1x1 projection. */
export interface InvertedResidual {
  expand: ConvBn | null;
  depthwise: ConvBn;
  project: ConvBn;
  residual: boolean;
}

export interface MobileNetV2 {
  /** image [B, 224, 224, 3] -> features [B, 1280] (after the global average pool). */
  backbone: tf.LayersModel;
  /** image -> [logits, features], the backbone followed by the head (the dropout before the head is applied by the training step). */
  model: tf.LayersModel;
  /** The classifier: dense 1280 -> classes. */
  head: tf.layers.Layer;
  /** torchvision's dropout rate before the head. */
  dropout: number;
  featureDim: number;
  /** The backbone's layers by role, for foldedBackbone. */
  units: { stem: ConvBn; blocks: InvertedResidual[]; last: ConvBn };
}

export function buildMobileNetV2(opts: { inputShape?: [number, number, number]; classes?: number; seed?: number } = {}): MobileNetV2 {
  const inputShape = opts.inputShape ?? [224, 224, 3];
  const classes = opts.classes ?? 1000;
  // Offset by one: tfjs treats a seed of 0 as "no seed".
  let s = (opts.seed ?? 0) * 1000 + 1;
  const init = () => tf.initializers.heNormal({ seed: s++ });
  /** conv -> BN (-> ReLU6), recording the layers. */
  const unit = (x: T, filters: number | 'depthwise', kernelSize: number, strides: number, relu6: boolean): [T, ConvBn] => {
    const depthwise = filters === 'depthwise';
    const conv = depthwise
      ? tf.layers.depthwiseConv2d({ kernelSize, strides, padding: 'same', useBias: false, depthwiseInitializer: init() })
      : tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() });
    const bn = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
    let y = bn.apply(conv.apply(x)) as T;
    if (relu6) y = new ReLU6({}).apply(y) as T;
    return [y, { conv, bn, depthwise, strides, relu6 }];
  };

  const input = tf.input({ shape: inputShape });
  let [x, stem] = unit(input, 32, 3, 2, true);
  let channels = 32;
  const blocks: InvertedResidual[] = [];
  for (const [t, c, n, stride] of MOBILENETV2_BLOCKS) {
    for (let i = 0; i < n; i++) {
      const st = i === 0 ? stride : 1;
      let y = x, expand: ConvBn | null = null, depthwise: ConvBn, project: ConvBn;
      if (t !== 1) [y, expand] = unit(x, channels * t, 1, 1, true);
      [y, depthwise] = unit(y, 'depthwise', 3, st, true);
      [y, project] = unit(y, c, 1, 1, false);
      const residual = st === 1 && channels === c;
      x = residual ? tf.layers.add().apply([x, y]) as T : y;
      blocks.push({ expand, depthwise, project, residual });
      channels = c;
    }
  }
  const featureDim = 1280;
  let last: ConvBn;
  [x, last] = unit(x, featureDim, 1, 1, true);
  const features = tf.layers.globalAveragePooling2d({}).apply(x) as T;
  const head = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }), name: 'head' });
  const logits = head.apply(features) as T;
  return {
    backbone: tf.model({ inputs: input, outputs: features }),
    model: tf.model({ inputs: input, outputs: [logits, features] }),
    head, dropout: 0.2, featureDim, units: { stem, blocks, last },
  };
}

/**
 * The backbone's inference pass as a converted TensorFlow MobileNetV2 (a tfjs graph model, such
 * as the ones `ares fit` loads) runs it: each batch norm folded into the convolution before it
 * (filter scaled by gamma / sqrt(var + eps) per output channel, bias beta - mean * that scale)
 * and ReLU6 fused into the convolution, so a block is three kernels and a residual add instead of
 * nine layers. Same values as backbone.apply(x, {training: false}) up to rounding. The weights are
 * read once: fold again after changing them. Inference only: the pass records no gradient.
 */
export function foldedBackbone(net: MobileNetV2): { apply(x: tf.Tensor4D): tf.Tensor2D; dispose(): void } {
  interface Folded { filter: tf.Tensor4D; bias: tf.Tensor1D; depthwise: boolean; strides: number; relu6: boolean }
  const fold = (u: ConvBn): Folded => tf.tidy(() => {
    const [kernel] = u.conv.getWeights() as [tf.Tensor4D];
    const [gamma, beta, mean, variance] = u.bn.getWeights() as tf.Tensor1D[];
    const eps = (u.bn.getConfig() as { epsilon: number }).epsilon;
    const scale = tf.div(gamma, tf.sqrt(tf.add(variance, eps)));
    // Plain filters are [KH, KW, Ci, Co] (scale along Co); depthwise ones [KH, KW, C, 1] (along C).
    const filter = tf.mul(kernel, u.depthwise ? tf.reshape(scale, [1, 1, -1, 1]) : scale) as tf.Tensor4D;
    return { filter, bias: tf.sub(beta, tf.mul(mean, scale)) as tf.Tensor1D, depthwise: u.depthwise, strides: u.strides, relu6: u.relu6 };
  });
  const { stem, blocks, last } = net.units;
  const folded = { stem: fold(stem), last: fold(last),
    blocks: blocks.map((b) => ({ expand: b.expand && fold(b.expand), depthwise: fold(b.depthwise), project: fold(b.project), residual: b.residual })) };
  // The kernels directly: tf.fused.conv2d and depthwiseConv2d wrap each call in a custom gradient
  // and shape checks (~1.3 ms of CPU time per batch-1 pass of 52 convolutions), and this pass needs
  // no gradient.
  const run = (f: Folded, x: tf.Tensor4D): tf.Tensor4D => tf.engine().runKernel(
    f.depthwise ? tf.FusedDepthwiseConv2D : tf.FusedConv2D,
    { x, filter: f.filter, bias: f.bias } as unknown as tf.NamedTensorMap,
    { strides: f.strides, pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], activation: f.relu6 ? 'relu6' : 'linear', leakyreluAlpha: 0.2 } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D;
  const all = [folded.stem, folded.last, ...folded.blocks.flatMap((b) => [b.expand, b.depthwise, b.project])].filter((f): f is Folded => f !== null);
  return {
    apply: (input) => tf.tidy(() => {
      // Each intermediate is disposed as soon as the next one exists, as the layers executor does.
      let x = run(folded.stem, input);
      for (const b of folded.blocks) {
        let y = b.expand ? run(b.expand, x) : x;
        const d = run(b.depthwise, y);
        if (y !== x) y.dispose();
        y = run(b.project, d);
        d.dispose();
        const next = b.residual ? tf.add(x, y) as tf.Tensor4D : y;
        if (b.residual) y.dispose();
        if (x !== input) x.dispose();
        x = next;
      }
      const y = run(folded.last, x);
      x.dispose();
      return tf.mean(y, [1, 2]) as tf.Tensor2D;
    }),
    dispose: () => { for (const f of all) tf.dispose([f.filter, f.bias]); },
  };
}

/** Trainable parameters of a layers model (torch's sum(p.numel() for p in parameters())). */
export function trainableParameterCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]), 0);
}
