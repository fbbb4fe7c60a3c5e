import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { batchNormTrain } from '../../src/engine/kernels/batch-norm.js';
import { kernelRuntime, type KernelRuntime } from '../../src/engine/kernels/index.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu, randn, relErr, valuesOn } from './helpers.js';

// WRN-40-2 at batch 128 grows tfjs's wasm heap past 2 GiB. emscripten's _malloc returns a signed
// i32, so addresses above 2 GiB came back negative and the kernels' scratch writes threw
// "RangeError: offset is out of bounds". This file reproduces that at small scale: one large
// untouched reservation (address space only, the pages are never written) pushes every later
// allocation past 2 GiB, then the kernels run there and must agree with the cpu backend.
const TWO_GIB = 2 ** 31;
let rt: KernelRuntime;
const held: number[] = [];

/**
 * Takes every free block below 2 GiB (sizes from 1 MiB down to 16 bytes), so that the allocator
 * serves everything after it from above the reservation.
 */
function fillBelow(): void {
  for (let size = 1 << 20; size >= 16; size >>= 1) {
    for (;;) {
      const p = rt.malloc(size);
      if (p > TWO_GIB) { rt.free(p); break; }
      held.push(p);
    }
  }
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  await quietCpu();
  rt = kernelRuntime()!;
  held.push(rt.malloc(TWO_GIB + (64 << 20)));
  fillBelow();
  return () => { for (const p of held.splice(0)) rt.free(p); };
});

describe('kernels on a wasm heap above 2 GiB', () => {
  it('allocates scratch above 2 GiB and reads it back', () => {
    const p = rt.malloc(64);
    try {
      expect(p).toBeGreaterThan(TWO_GIB);
      const q = rt.ints([7, -3, 11]);
      expect(q).toBeGreaterThan(TWO_GIB);
      expect(Array.from(rt.heapI32().subarray(q >>> 2, (q >>> 2) + 3))).toEqual([7, -3, 11]);
      rt.free(q);
    } finally {
      rt.free(p);
    }
  });

  it('runs the convolution (direct and Winograd), batch-norm and relu kernels there like the cpu backend', async () => {
    const rng = new Rng(3);
    const xv = randn(rng, 2 * 8 * 8 * 16), w3 = randn(rng, 3 * 3 * 16 * 16), w1 = randn(rng, 16 * 32);
    const gv = randn(rng, 16), bv = randn(rng, 16);
    // On wasm the project's fused batch-norm kernel, on cpu tfjs's moments + batchNorm.
    const step = (fused: boolean) => {
      const x = tf.tensor4d(xv, [2, 8, 8, 16]);
      const f3 = tf.tensor4d(w3, [3, 3, 16, 16]), f1 = tf.tensor4d(w1, [1, 1, 16, 32]);
      const gamma = tf.tensor1d(gv), beta = tf.tensor1d(bv);
      const grads = tf.grads((a: tf.Tensor4D, b: tf.Tensor4D, g: tf.Tensor1D) => {
        const y = tf.relu(tf.conv2d(a, b, 1, 'same'));
        let z: tf.Tensor;
        if (fused) z = batchNormTrain(y, g, beta, 1e-3)[0];
        else { const { mean, variance } = tf.moments(y, [0, 1, 2]); z = tf.batchNorm(y, mean, variance, beta, g, 1e-3); }
        return tf.conv2d(z as tf.Tensor4D, f1, 2, 'same').square().sum();
      })([x, f3, gamma]);
      return grads;
    };
    const onWasm = await valuesOn('wasm', () => {
      const t = tf.tensor1d([1]);
      const at = (tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap.get(t.dataId).memoryOffset;
      expect(at).toBeGreaterThan(TWO_GIB);
      return step(true);
    });
    const onCpu = await valuesOn('cpu', () => step(false));
    onWasm.forEach((v, i) => expect(relErr(v, onCpu[i]), `output ${i}`).toBeLessThan(1e-4));
  });
});
