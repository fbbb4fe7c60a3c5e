import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { withTfjsGradients } from '../../src/engine/gradients.js';
import { heapMeter } from '../../src/engine/heap.js';
import { buildModel } from '../../src/models/index.js';
import { Rng } from '../../src/util/rng.js';
import { randn } from './helpers.js';

// The engine's backward pass frees saved tensors and used gradients as it goes. It must compute
// exactly what tfjs's own engine.gradients computes, leak nothing, keep higher-order gradients
// working, and hold far less memory at its peak on a residual network.
beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

function wrnLoss(batch: number, size = 8) {
  const net = buildModel('wrn40-2', [size, size, 3], 10, 1);
  const rng = new Rng(5);
  const x = tf.tensor4d(randn(rng, batch * size * size * 3), [batch, size, size, 3]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, () => rng.int(10)), 'int32'), 10).toFloat();
  const vars = net.trainableVariables;
  const loss = () => tf.losses.softmaxCrossEntropy(y, net.apply(x, true).logits) as tf.Scalar;
  return { vars, loss, dispose: () => { tf.dispose([x, y]); net.layersModel.dispose(); } };
}

function gradsOf(m: ReturnType<typeof wrnLoss>): { loss: number; grads: Float32Array[] } {
  const { value, grads } = tf.variableGrads(m.loss, m.vars);
  const out = { loss: value.dataSync()[0], grads: m.vars.map((v) => Float32Array.from(grads[v.name].dataSync() as Float32Array)) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

describe('frugal backward pass', () => {
  it('gives bit-identical gradients to tfjs\'s own on WRN-40-2 (batch norm, relu, residual adds, 1x1 shortcuts)', () => {
    const m = wrnLoss(4);
    try {
      const mine = gradsOf(m);
      const theirs = withTfjsGradients(() => gradsOf(m));
      expect(mine.loss).toBe(theirs.loss);
      expect(mine.grads.length).toBe(theirs.grads.length);
      mine.grads.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(theirs.grads[i].buffer)), `gradient ${i}`).toBe(true));
    } finally { m.dispose(); }
  });

  it('leaks no tensors and peaks well below tfjs\'s backward pass', () => {
    const m = wrnLoss(8, 32);
    try {
      const meter = heapMeter()!;
      const peakOf = (f: () => void) => { const base = meter.live; meter.resetPeak(); f(); return meter.peak - base; };
      gradsOf(m);
      const before = tf.memory().numTensors;
      const mine = peakOf(() => gradsOf(m));
      expect(tf.memory().numTensors).toBe(before);
      const theirs = peakOf(() => withTfjsGradients(() => gradsOf(m)));
      expect(tf.memory().numTensors).toBe(before);
      // The saved activations alone, against those plus one gradient per activation.
      expect(mine).toBeLessThan(0.6 * theirs);
    } finally { m.dispose(); }
  });

  it('still computes second derivatives (nested tapes keep tfjs\'s path)', () => {
    const x = tf.tensor1d([-1.5, 0.5, 2]);
    const d2 = tf.grad((v: tf.Tensor) => tf.grad((u: tf.Tensor) => u.pow(3).mul(u.add(1)).sum())(v).sum())(x);
    // f = u^4 + u^3: f'' = 12u^2 + 6u.
    const expected = [-1.5, 0.5, 2].map((u) => 12 * u * u + 6 * u);
    Array.from(d2.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    tf.dispose([x, d2]);
  });

  it('runs a model forward freeing each layer output after its last reader, with the values tfjs computes', () => {
    const net = buildModel('wrn40-2', [32, 32, 3], 10, 2);
    const x = tf.tensor4d(randn(new Rng(9), 8 * 32 * 32 * 3), [8, 32, 32, 3]);
    try {
      const meter = heapMeter()!;
      const before = tf.memory().numTensors;
      const base = meter.live;
      meter.resetPeak();
      const logits = tf.tidy(() => net.apply(x, true).logits);
      // The largest activation is 8 × 32 × 32 × 32 floats = 1 MiB; keeping every layer output
      // (tfjs-layers in training mode) holds about 60 of them.
      expect(meter.peak - base).toBeLessThan(12 * 2 ** 20);
      logits.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // Inference through the patched call against tfjs-layers' own executor (predict).
      const mine = tf.tidy(() => net.apply(x, false).logits.dataSync());
      const theirs = tf.tidy(() => (net.layersModel.predict(x) as tf.Tensor[])[0].dataSync());
      expect(Array.from(mine)).toEqual(Array.from(theirs));
    } finally { x.dispose(); net.layersModel.dispose(); }
  });
});
