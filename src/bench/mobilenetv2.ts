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

export interface MobileNetV2 {
  /** image [B, 224, 224, 3] -> features [B, 1280] (after the global average pool). */
  backbone: tf.LayersModel;
  /** image -> [logits, features], the backbone followed by the head (dropout is a training-time op, see headLogits). */
  model: tf.LayersModel;
  /** The classifier: dense 1280 -> classes. */
  head: tf.layers.Layer;
  /** torchvision's dropout rate before the head. */
  dropout: number;
  featureDim: number;
}

export function buildMobileNetV2(opts: { inputShape?: [number, number, number]; classes?: number; seed?: number } = {}): MobileNetV2 {
  const inputShape = opts.inputShape ?? [224, 224, 3];
  const classes = opts.classes ?? 1000;
  // Offset by one: tfjs treats a seed of 0 as "no seed".
  let s = (opts.seed ?? 0) * 1000 + 1;
  const init = () => tf.initializers.heNormal({ seed: s++ });
  const bn = (x: T) => tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(x) as T;
  const relu6 = (x: T) => new ReLU6({}).apply(x) as T;
  const conv = (x: T, filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x) as T;
  const depthwise = (x: T, strides: number) =>
    tf.layers.depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(x) as T;

  const input = tf.input({ shape: inputShape });
  let x = relu6(bn(conv(input, 32, 3, 2)));
  let channels = 32;
  for (const [t, c, n, stride] of MOBILENETV2_BLOCKS) {
    for (let i = 0; i < n; i++) {
      const st = i === 0 ? stride : 1;
      let y = t === 1 ? x : relu6(bn(conv(x, channels * t, 1, 1)));
      y = relu6(bn(depthwise(y, st)));
      y = bn(conv(y, c, 1, 1));
      x = st === 1 && channels === c ? tf.layers.add().apply([x, y]) as T : y;
      channels = c;
    }
  }
  const featureDim = 1280;
  x = relu6(bn(conv(x, featureDim, 1, 1)));
  const features = tf.layers.globalAveragePooling2d({}).apply(x) as T;
  const head = tf.layers.dense({ units: classes, kernelInitializer: tf.initializers.glorotUniform({ seed: s++ }), name: 'head' });
  const logits = head.apply(features) as T;
  return {
    backbone: tf.model({ inputs: input, outputs: features }),
    model: tf.model({ inputs: input, outputs: [logits, features] }),
    head, dropout: 0.2, featureDim,
  };
}

/** Trainable parameters of a layers model (torch's sum(p.numel() for p in parameters())). */
export function trainableParameterCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]), 0);
}
