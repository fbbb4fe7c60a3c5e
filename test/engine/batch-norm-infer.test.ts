import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu, randn, relErr, valuesOn } from './helpers.js';

beforeAll(async () => {
  const info = await initEngine({ backend: 'wasm' });
  await quietCpu();
  expect(info.customKernels).toContain('FusedBatchNorm');
});

// Inference batch norm (running statistics) on wasm against tfjs's cpu backend: the SIMD affine
// kernel where channels come in fours, tfjs's kernel for the rest (C = 6, and no offset/scale).
describe('FusedBatchNorm on wasm', () => {
  const rng = new Rng(3);
  const positive = (n: number) => Float32Array.from(randn(rng, n), (v) => 0.5 + v * v);
  for (const [shape, withAffine] of [[[2, 5, 3, 8], true], [[7, 12], true], [[1, 2, 2, 6], true], [[2, 3, 3, 4], false]] as const) {
    it(`[${shape}]${withAffine ? '' : ' without offset and scale'}`, async () => {
      const C = shape[shape.length - 1];
      const x = randn(rng, shape.reduce((a, b) => a * b, 1));
      const mean = randn(rng, C), variance = positive(C), beta = randn(rng, C), gamma = randn(rng, C);
      const f = () => tf.batchNorm(tf.tensor(x, [...shape]), tf.tensor1d(mean), tf.tensor1d(variance),
        withAffine ? tf.tensor1d(beta) : undefined, withAffine ? tf.tensor1d(gamma) : undefined, 1e-3);
      const [w] = await valuesOn('wasm', f);
      const [c] = await valuesOn('cpu', f);
      expect(relErr(w, c)).toBeLessThan(1e-5);
      // Not a tautology: the formula itself, for the first element of channel 0.
      const expected = (x[0] - mean[0]) / Math.sqrt(variance[0] + 1e-3) * (withAffine ? gamma[0] : 1) + (withAffine ? beta[0] : 0);
      expect(w[0]).toBeCloseTo(expected, 4);
    });
  }
});
