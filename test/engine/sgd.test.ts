import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { createSgd, cosineLr } from '../../src/engine/sgd.js';
import { AresError } from '../../src/errors.js';

beforeAll(async () => { await initEngine({ backend: 'wasm' }); });

/** torch.optim.SGD's update written out in plain numbers (dampening 0). */
function torchSgd(p: number[], grads: number[][], lrs: number[], mu: number, wd: number, nesterov: boolean): number[] {
  const v = p.map(() => 0);
  p = [...p];
  grads.forEach((grad, t) => {
    for (let i = 0; i < p.length; i++) {
      const g = grad[i] + wd * p[i];
      v[i] = t === 0 ? g : mu * v[i] + g;   // PyTorch starts the buffer at g
      p[i] -= lrs[t] * (nesterov ? g + mu * v[i] : v[i]);
    }
  });
  return p;
}

describe('createSgd', () => {
  const p0 = [0.5, -1.5, 2, 0.25];
  const grads = [[0.1, -0.2, 0.3, 0.0], [-0.4, 0.1, 0.2, 0.5], [0.3, 0.3, -0.1, -0.2]];
  const lrs = [0.1, 0.05, 0.01];

  for (const nesterov of [true, false]) {
    it(`follows PyTorch's update (nesterov=${nesterov}, momentum 0.9, weight decay 5e-4)`, () => {
      const v = tf.variable(tf.tensor1d(p0));
      const sgd = createSgd([v], { momentum: 0.9, nesterov, weightDecay: 5e-4 });
      grads.forEach((g, t) => tf.tidy(() => sgd.step([tf.tensor1d(g)], lrs[t])));
      const want = torchSgd(p0, grads, lrs, 0.9, 5e-4, nesterov);
      Array.from(v.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
      sgd.dispose(); v.dispose();
    });
  }

  it('defaults to momentum 0.9, Nesterov and weight decay 5e-4', () => {
    const v = tf.variable(tf.tensor1d(p0));
    const sgd = createSgd([v]);
    grads.forEach((g, t) => tf.tidy(() => sgd.step([tf.tensor1d(g)], lrs[t])));
    const want = torchSgd(p0, grads, lrs, 0.9, 5e-4, true);
    Array.from(v.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
    sgd.dispose(); v.dispose();
  });

  it('saves and restores its momentum buffers, so a resumed run continues identically', () => {
    const run = (resumeAfter: number | null) => {
      const v = tf.variable(tf.tensor1d(p0));
      let sgd = createSgd([v]);
      grads.forEach((g, t) => {
        if (t === resumeAfter) {
          const state = sgd.state();
          sgd.dispose();
          sgd = createSgd([v]);
          sgd.load(state);
        }
        tf.tidy(() => sgd.step([tf.tensor1d(g)], lrs[t]));
      });
      const out = Array.from(v.dataSync());
      sgd.dispose(); v.dispose();
      return out;
    };
    expect(run(2)).toEqual(run(null));
  });

  it('leaks no tensor per step', () => {
    const v = tf.variable(tf.tensor1d(p0));
    const sgd = createSgd([v]);
    const g = tf.tensor1d(grads[0]);
    sgd.step([g], 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) sgd.step([g], 0.1);
    expect(tf.memory().numTensors).toBe(before);
    sgd.dispose(); v.dispose(); g.dispose();
  });

  it('rejects bad input with AresError', () => {
    const v = tf.variable(tf.tensor1d(p0));
    const sgd = createSgd([v]);
    expect(() => sgd.step([], 0.1)).toThrow(AresError);
    expect(() => sgd.load([new Float32Array(3)])).toThrow(/3 values, expected 4/);
    expect(() => createSgd([v], { momentum: 0, nesterov: true })).toThrow(AresError);
    sgd.dispose();
    expect(() => sgd.step([tf.tensor1d(grads[0])], 0.1)).toThrow(/after dispose/);
    v.dispose();
  });
});

describe('cosineLr', () => {
  it('decays from lr0 to lrMin along half a cosine', () => {
    expect(cosineLr(0, 100)).toBeCloseTo(0.1, 12);
    expect(cosineLr(100, 100)).toBeCloseTo(1e-6, 12);
    expect(cosineLr(50, 100)).toBeCloseTo(1e-6 + (0.1 - 1e-6) / 2, 12);
    expect(cosineLr(25, 100, 1, 0)).toBeCloseTo((1 + Math.cos(Math.PI / 4)) / 2, 12);
    expect(cosineLr(200, 100)).toBeCloseTo(1e-6, 12);
  });
});

describe('tensor leak checks', () => {
  it('pass a clean step and name a leaking one', async () => {
    const { assertNoTensorGrowth, tensorGrowth } = await import('../../src/engine/memory.js');
    const kept: tf.Tensor[] = [];
    expect(tensorGrowth(() => tf.tidy(() => { tf.add(tf.scalar(1), 2); }), 4)).toBe(0);
    expect(tensorGrowth(() => kept.push(tf.scalar(1)), 4)).toBe(4);
    expect(() => assertNoTensorGrowth(() => kept.push(tf.scalar(1)), 'the test step')).toThrow(/the test step leaks tensors: 3 more/);
    tf.dispose(kept);
  });
});
