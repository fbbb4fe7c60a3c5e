import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { variableGradsAsync } from '../../src/engine/gradients.js';
import { buildCnn } from '../../src/models/cnn.js';
import { Rng } from '../../src/util/rng.js';

// variableGradsAsync is what lets a training step read tensors with await in the middle of its
// forward pass (webgpu in Node has no synchronous read). It must compute exactly what
// tf.variableGrads computes and leave nothing behind, also when the forward pass throws.
// Runs on wasm: the mechanism is the engine's tape and scopes, not the backend.
beforeAll(async () => { await initEngine({ backend: 'wasm', threads: 1 }); });

function setup() {
  const net = buildCnn([8, 8, 1], 3, 2);
  const rng = new Rng(9);
  const x = tf.tensor4d(Float32Array.from({ length: 4 * 64 }, () => rng.uniform()), [4, 8, 8, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3).toFloat());
  return { net, x, y, dispose: () => { tf.dispose([x, y]); net.layersModel.dispose(); } };
}

const copies = (grads: Record<string, tf.Tensor>, vars: tf.Variable[]) => vars.map((v) => Buffer.from(Float32Array.from(grads[v.name].dataSync() as Float32Array).buffer));

describe('variableGradsAsync', () => {
  it('gives bit-identical loss and gradients to tf.variableGrads, with a read awaited mid-forward, and leaks nothing', async () => {
    const { net, x, y, dispose } = setup();
    try {
      const vars = net.trainableVariables;
      const loss = () => tf.losses.softmaxCrossEntropy(y, net.apply(x, true).logits) as tf.Scalar;
      const sync = tf.variableGrads(loss, vars);
      const before = tf.memory().numTensors;
      let features: Float32Array | null = null;
      const async = await variableGradsAsync(async () => {
        const { logits, features: h } = net.apply(x, true);
        features = Float32Array.from(await h.data() as Float32Array); // what the feature pool does
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      }, vars);
      expect(features!.length).toBe(4 * 128);
      expect(async.value.dataSync()[0]).toBe(sync.value.dataSync()[0]);
      expect(Object.keys(async.grads).sort()).toEqual(Object.keys(sync.grads).sort());
      const [a, s] = [copies(async.grads, vars), copies(sync.grads, vars)];
      a.forEach((g, i) => expect(g.equals(s[i]), `gradient of ${vars[i].name}`).toBe(true));
      // Only the value and one gradient per variable outlive the call.
      expect(tf.memory().numTensors - before).toBe(1 + vars.length);
      tf.dispose([sync.value, async.value, ...Object.values(sync.grads), ...Object.values(async.grads)]);
    } finally {
      dispose();
    }
  });

  it('leaves no tensors and no open tape when the forward pass throws after an await', async () => {
    const { net, x, y, dispose } = setup();
    try {
      const before = tf.memory().numTensors;
      await expect(variableGradsAsync(async () => {
        const { features } = net.apply(x, true);
        await features.data();
        throw new Error('feature pool: non-finite feature value');
      }, net.trainableVariables)).rejects.toThrow(/non-finite/);
      expect(tf.memory().numTensors).toBe(before);
      // The engine is usable afterwards: an ordinary gradient still works.
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, true).logits) as tf.Scalar, net.trainableVariables);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      dispose();
    }
  });
});
