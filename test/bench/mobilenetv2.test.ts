import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { buildMobileNetV2, foldedBackbone, runBench, trainableParameterCount } from '../../src/bench/index.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../engine/helpers.js';

beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

describe('MobileNetV2 bench model', () => {
  it("has torchvision's parameter count and layer make-up, and maps 224x224x3 to 1000 logits and 1280 features", () => {
    const net = buildMobileNetV2();
    try {
      // sum(p.numel() for p in torchvision.models.mobilenet_v2().parameters())
      expect(trainableParameterCount(net.model)).toBe(3_504_872);
      const count = (cls: string) => net.model.layers.filter((l) => l.getClassName() === cls).length;
      // Stem + 16 expansions + 17 projections + the last 1x1; 17 depthwise; 10 residual adds.
      expect([count('Conv2D'), count('DepthwiseConv2D'), count('BatchNormalization'), count('Add')]).toEqual([35, 17, 52, 10]);
      const [logits, features] = tf.tidy(() => net.model.apply(tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 1), { training: false }) as tf.Tensor[]);
      expect(logits.shape).toEqual([1, 1000]);
      expect(features.shape).toEqual([1, 1280]);
      // ReLU6 then average pooling: every feature in [0, 6].
      const f = features.dataSync();
      expect(Math.min(...f)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...f)).toBeLessThanOrEqual(6);
      expect(Math.max(...f)).toBeGreaterThan(0);
      tf.dispose([logits, features]);
    } finally {
      net.model.dispose();
    }
  });

  it('folded backbone (batch norm in the convolutions, ReLU6 fused) gives the layers model\'s features', () => {
    const net = buildMobileNetV2({ inputShape: [64, 64, 3], classes: 10, seed: 2 });
    const rng = new Rng(5);
    // Non-trivial running statistics and affine parameters, so folding has something to fold.
    for (const l of net.model.layers.filter((x) => x.getClassName() === 'BatchNormalization')) {
      const C = l.getWeights()[0].shape[0];
      const vec = (f: () => number) => tf.tensor1d(Float32Array.from({ length: C }, f));
      l.setWeights([vec(() => 0.5 + rng.uniform()), vec(() => rng.uniform() - 0.5), vec(() => 0.2 * (rng.uniform() - 0.5)), vec(() => 0.5 + rng.uniform())]);
    }
    const folded = foldedBackbone(net);
    try {
      const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const want = tf.tidy(() => (net.backbone.apply(x, { training: false }) as tf.Tensor).dataSync().slice());
      const got = tf.tidy(() => folded.apply(x).dataSync().slice());
      expect(got.length).toBe(2 * 1280);
      expect(relErr(got, want)).toBeLessThan(1e-4);
      // Not zero everywhere (a dead network would agree trivially).
      expect(Math.max(...want)).toBeGreaterThan(0.01);
      x.dispose();
    } finally {
      folded.dispose();
      net.model.dispose();
    }
  });

  it('times inference and the frozen-backbone step without leaking tensors', async () => {
    const infer = await runBench({ model: 'mobilenetv2', method: 'infer', batch: 1, steps: 1, warmup: 1, seed: 0 });
    expect(infer).toMatchObject({ model: 'mobilenetv2', method: 'infer', batch: 1, tensor_growth: 0 });
    expect(Number.isFinite(infer.loss)).toBe(true);
    expect(infer.cpu_ms_per_step).toBeGreaterThan(0);
    const layers = await runBench({ model: 'mobilenetv2', method: 'infer-layers', batch: 1, steps: 1, warmup: 0, seed: 0 });
    // Same network and batch through tfjs-layers: the same mean logit up to rounding.
    expect(layers.loss).toBeCloseTo(infer.loss, 4);
    expect(layers.tensor_growth).toBe(0);
    const before = tf.memory().numTensors;
    const frozen = await runBench({ model: 'mobilenetv2', method: 'ce-frozen', batch: 2, steps: 2, warmup: 0, seed: 0 });
    expect(frozen.tensor_growth).toBe(0);
    // 1000 classes from a freshly initialised head: cross-entropy near ln(1000).
    expect(frozen.loss).toBeGreaterThan(Math.log(1000) - 2);
    expect(frozen.loss).toBeLessThan(Math.log(1000) + 2);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('runs inference of the CIFAR models too', async () => {
    const r = await runBench({ model: 'resnet18', method: 'infer', batch: 2, steps: 1, warmup: 0, seed: 0 });
    expect(r).toMatchObject({ model: 'resnet18', method: 'infer', tensor_growth: 0 });
    await expect(runBench({ model: 'cnn', method: 'ce-frozen', batch: 2, steps: 1, warmup: 0, seed: 0 })).rejects.toThrow(/no benchmark step/);
  });
});
