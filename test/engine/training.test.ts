import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { buildCnn } from '../../src/models/cnn.js';
import { createSgd } from '../../src/engine/sgd.js';
import { ceTrainStep } from '../../src/methods/ce-step.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu, relErr } from './helpers.js';

// The reference CNN trained with the project's kernels (wasm) against tfjs's own cpu backend.
// Batch 4: the dense layer's batch norm sees B samples and with 2 its input gradient is exactly
// zero in theory (pure rounding noise in practice), which would make the comparison meaningless.
const B = 4;
const rng = new Rng(11);
const pixels = Float32Array.from({ length: B * 28 * 28 }, () => rng.uniform());
const labels = Int32Array.from({ length: B }, () => rng.int(10));

function batch(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.tensor4d(pixels, [B, 28, 28, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat()) as tf.Tensor2D;
  return { x, y };
}

/** Trains from the given initial weights (or the seed-0 ones) and returns each step's loss. */
function train(steps: number, weights?: Float32Array[]): { losses: number[]; initial: Float32Array[]; tensors: number[] } {
  const model = buildCnn([28, 28, 1], 10, 0);
  if (weights) model.layersModel.setWeights(weights.map((w, i) => tf.tensor(w, model.allVariables[i].shape)));
  const initial = model.allVariables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  const sgd = createSgd(model.trainableVariables);
  const { x, y } = batch();
  const losses: number[] = [], tensors: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(ceTrainStep(model, sgd, x, y, 0.1));
    tensors.push(tf.memory().numTensors);
  }
  sgd.dispose(); x.dispose(); y.dispose(); model.layersModel.dispose();
  return { losses, initial, tensors };
}

beforeAll(async () => { await initEngine({ backend: 'wasm' }); await quietCpu(); });

/**
 * tfjs's cpu Conv2DBackpropFilter reads every element through TensorBuffer.get and needs ~3 s per
 * 28x28 image here; this is the same loop over flat arrays (checked against it below), so the cpu
 * reference run takes seconds. Everything else on cpu stays tfjs's own.
 */
function fastCpuConvBackpropFilter(): () => void {
  const own = tf.getKernel(tf.Conv2DBackpropFilter, 'cpu')!;
  tf.unregisterKernel(tf.Conv2DBackpropFilter, 'cpu');
  tf.registerKernel({
    kernelName: tf.Conv2DBackpropFilter, backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as { strides: number; pad: 'same' | 'valid'; filterShape: [number, number, number, number] };
      const c = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad);
      const be = backend as unknown as { data: { get(id: object): { values: Float32Array } }; makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo };
      const xv = be.data.get(x.dataId).values, dv = be.data.get(dy.dataId).values;
      const { inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = c;
      const acc = new Float64Array(c.filterHeight * c.filterWidth * Ci * Co);
      for (let b = 0; b < c.batchSize; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
        const d0 = ((b * OH + oy) * OW + ox) * Co;
        for (let ky = 0; ky < c.filterHeight; ky++) {
          const iy = oy * c.strideHeight + ky - c.padInfo.top;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < c.filterWidth; kx++) {
            const ix = ox * c.strideWidth + kx - c.padInfo.left;
            if (ix < 0 || ix >= W) continue;
            const x0 = ((b * H + iy) * W + ix) * Ci, w0 = (ky * c.filterWidth + kx) * Ci * Co;
            for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) acc[w0 + ci * Co + co] += xv[x0 + ci] * dv[d0 + co];
          }
        }
      }
      return be.makeTensorInfo(a.filterShape, 'float32', Float32Array.from(acc));
    },
  });
  return () => { tf.unregisterKernel(tf.Conv2DBackpropFilter, 'cpu'); tf.registerKernel(own); };
}

describe('reference CNN training step', () => {
  it('gives the same losses on wasm and cpu from the same initial weights (relative 1e-3)', async () => {
    await initEngine({ backend: 'wasm' });
    const wasm = train(3);
    await initEngine({ backend: 'cpu' });
    // The stand-in agrees with tfjs's own cpu kernel (small case, so the slow one is quick).
    const x = tf.randomNormal([2, 5, 6, 3], 0, 1, 'float32', 1), dy = tf.randomNormal([2, 5, 6, 4], 0, 1, 'float32', 2);
    const dw = () => (tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] }) as tf.Tensor).dataSync();
    const tfjsOwn = dw();
    const restore = fastCpuConvBackpropFilter();
    let cpu: ReturnType<typeof train>;
    try {
      expect(relErr(dw(), tfjsOwn)).toBeLessThan(1e-6);
      cpu = train(3, wasm.initial);
    } finally {
      restore();
      tf.dispose([x, dy]);
      await initEngine({ backend: 'wasm' });
    }
    expect(wasm.losses[2]).toBeLessThan(wasm.losses[0]); // it learns
    wasm.losses.forEach((l, i) => expect(Math.abs(l - cpu.losses[i]) / Math.abs(cpu.losses[i]), `step ${i}`).toBeLessThan(1e-3));
  });

  it('keeps the number of live tensors constant across steps', async () => {
    await initEngine({ backend: 'wasm' });
    const before = tf.memory().numTensors;
    const { tensors } = train(6);
    expect(new Set(tensors.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic: the same seed gives the same losses', async () => {
    await initEngine({ backend: 'wasm' });
    const a = train(3), b = train(3);
    expect(b.initial).toEqual(a.initial);
    expect(b.losses).toEqual(a.losses);
  });
});
