import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { batchNormTrain } from '../../src/engine/kernels/batch-norm.js';
import { kernelRuntime } from '../../src/engine/kernels/index.js';
import { wasmMemory, type WasmBackendInternals } from '../../src/engine/wasm-init.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu, randn, relErr, valuesOn } from './helpers.js';

// Every custom wasm kernel against tfjs's cpu backend on seeded random shapes: relative error
// (max |wasm - cpu| / max |cpu|) below 1e-4. The convolution cases reach every code path: direct
// gather and Winograd forward and input gradient, direct and Winograd filter gradient, stride
// classes, channel tails.
const TOL = 1e-4;

beforeAll(async () => {
  const info = await initEngine({ backend: 'wasm' });
  await quietCpu();
  expect(info.customKernels).toEqual(expect.arrayContaining([
    'Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul',
    'AresBatchNormTrain', 'AresBatchNormTrainGrad', 'Relu', 'AresReluGrad', 'Identity', 'Cast', 'Tile']));
});

/** Runs f on wasm and on cpu and checks every output agrees. */
async function agree(f: () => tf.Tensor | tf.Tensor[], label: string): Promise<void> {
  const [w, c] = [await valuesOn('wasm', f), await valuesOn('cpu', f)];
  expect(w.length).toBe(c.length);
  w.forEach((v, i) => expect(relErr(v, c[i]), `${label} output ${i}`).toBeLessThan(TOL));
}

interface ConvCase { B: number; H: number; W: number; Ci: number; Co: number; k: number; s: number; pad: 'same' | 'valid' }

function convCases(): ConvCase[] {
  const rng = new Rng(7);
  const pick = <T>(xs: readonly T[]) => xs[rng.int(xs.length)];
  const cases: ConvCase[] = [
    // The reference CNN's layer shapes (small batch) and a stride-2 ResNet-like pair.
    { B: 2, H: 28, W: 28, Ci: 1, Co: 32, k: 3, s: 1, pad: 'same' },
    { B: 2, H: 28, W: 28, Ci: 32, Co: 32, k: 3, s: 1, pad: 'same' },
    { B: 2, H: 14, W: 14, Ci: 32, Co: 64, k: 3, s: 1, pad: 'same' },
    { B: 2, H: 8, W: 8, Ci: 16, Co: 32, k: 3, s: 2, pad: 'same' },
    { B: 2, H: 8, W: 8, Ci: 16, Co: 32, k: 1, s: 2, pad: 'same' },
    // Stride 2, more than one 16-tile block of the direct kernel with a partial last tile (147 and
    // 50 output pixels), output channels past the last 8-wide filter panel (20 = 16 + 4; 19 and the
    // dX's 7 input channels also take the per-channel dot).
    { B: 3, H: 13, W: 13, Ci: 12, Co: 20, k: 3, s: 2, pad: 'same' },
    { B: 2, H: 11, W: 11, Ci: 7, Co: 19, k: 3, s: 2, pad: 'valid' },
    // Narrow outputs (OW <= 8) with Ci % 4 == 0 and Co % 8 == 0 take the per-tap dW product:
    // 264 positions, more than one 256-position chunk, with taps outside the image at the edges.
    { B: 3, H: 21, W: 15, Ci: 8, Co: 16, k: 3, s: 2, pad: 'same' },
    { B: 3, H: 22, W: 16, Ci: 8, Co: 16, k: 1, s: 2, pad: 'valid' },
    // Winograd F(2x2, 3x3) paths (3x3, stride 1, channels in fours/eights), odd sizes included.
    { B: 2, H: 7, W: 9, Ci: 8, Co: 16, k: 3, s: 1, pad: 'same' },
    { B: 3, H: 7, W: 5, Ci: 16, Co: 8, k: 3, s: 1, pad: 'valid' },
    { B: 1, H: 3, W: 3, Ci: 8, Co: 8, k: 3, s: 1, pad: 'valid' },
    { B: 1, H: 1, W: 2, Ci: 4, Co: 8, k: 3, s: 1, pad: 'same' },
    // Wide enough that the F(3x3, 4x4) filter gradient keeps one partial sum, split by channel.
    { B: 1, H: 4, W: 5, Ci: 256, Co: 256, k: 3, s: 1, pad: 'same' },
  ];
  for (const s of [1, 2] as const) {
    for (const pad of ['same', 'valid'] as const) {
      for (let i = 0; i < 3; i++) {
        const k = pick([1, 2, 3, 5]);
        cases.push({ B: 1 + rng.int(3), H: k + rng.int(9), W: k + rng.int(9), Ci: pick([1, 2, 3, 4, 5, 8, 16]),
          Co: pick([1, 3, 4, 8, 12, 16]), k, s, pad });
      }
    }
  }
  return cases;
}

describe('convolution kernels', () => {
  for (const c of convCases()) {
    const label = `x[${c.B},${c.H},${c.W},${c.Ci}] k${c.k} ${c.Ci}->${c.Co} stride ${c.s} ${c.pad}`;
    it(`forward, fused, dx, dw: ${label}`, async () => {
      const rng = new Rng(c.B * 1000 + c.H * 100 + c.Ci * 10 + c.Co);
      const xv = randn(rng, c.B * c.H * c.W * c.Ci), wv = randn(rng, c.k * c.k * c.Ci * c.Co), bv = randn(rng, c.Co);
      const oh = c.pad === 'same' ? Math.ceil(c.H / c.s) : Math.ceil((c.H - c.k + 1) / c.s);
      const ow = c.pad === 'same' ? Math.ceil(c.W / c.s) : Math.ceil((c.W - c.k + 1) / c.s);
      const dyv = randn(rng, c.B * oh * ow * c.Co);
      await agree(() => {
        const x = tf.tensor4d(xv, [c.B, c.H, c.W, c.Ci]), w = tf.tensor4d(wv, [c.k, c.k, c.Ci, c.Co]);
        const dy = tf.tensor4d(dyv, [c.B, oh, ow, c.Co]);
        return [
          tf.conv2d(x, w, c.s, c.pad),
          tf.fused.conv2d({ x, filter: w, strides: c.s, pad: c.pad, bias: tf.tensor1d(bv), activation: 'relu' }),
          tf.conv2dTranspose(dy, w, [c.B, c.H, c.W, c.Ci], c.s, c.pad),
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
            { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.k, c.k, c.Ci, c.Co] }) as tf.Tensor,
        ];
      }, label);
    });
  }
});

describe('Winograd filter gradient across threads', () => {
  it('splits a wide layer\'s single partial sum by input channel without changing a bit', () => {
    const rt = kernelRuntime()!;
    const Ci = 256, Co = 256, rng = new Rng(11);
    const x = tf.tensor4d(randn(rng, 4 * 5 * Ci), [1, 4, 5, Ci]), dy = tf.tensor4d(randn(rng, 4 * 5 * Co), [1, 4, 5, Co]);
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, Ci, Co] }) as tf.Tensor;
    const got = Float32Array.from(dw.dataSync() as Float32Array);
    // The same two passes run here as 1, 2 and 3 parts, one after another (groups: 1, as conv.ts
    // picks for this width, so 2 and 3 parts split the input channels).
    const g = rt.ints([1, 4, 5, Ci, 4, 5, Co, 1, 1, 1]);
    const partial = rt.malloc(4 * 36 * Ci * Co), scratch = rt.malloc(4 * 3 * rt.call1('wino4_scratch', Ci, Co));
    const out = rt.malloc(4 * 9 * Ci * Co);
    try {
      for (const nparts of [1, 2, 3]) {
        for (let part = 0; part < nparts; part++) rt.call1('wino4_dw_accumulate', g, rt.ptr(x), rt.ptr(dy), partial, scratch, part, nparts);
        for (let part = 0; part < nparts; part++) rt.call1('wino4_dw_finish', g, partial, out, part, nparts);
        const mem = wasmMemory(tf.backend() as unknown as WasmBackendInternals);
        const want = new Float32Array(mem.buffer, out, 9 * Ci * Co);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `${nparts} parts`).toBe(true);
      }
    } finally {
      for (const p of [g, partial, scratch, out]) rt.free(p);
      tf.dispose([x, dy, dw]);
    }
  });
});

describe('per-tap filter gradient across threads', () => {
  it('gives the same bits as 1, 2 and 3 parts (each part its own output-channel/input-channel tiles)', () => {
    const rt = kernelRuntime()!;
    // x [2, 9, 7, 8], 3x3 stride 2 'same' (pad 1 top/left) -> dy [2, 5, 4, 16]: OW <= 8, the tap path.
    const [B, H, W, Ci, OH, OW, Co] = [2, 9, 7, 8, 5, 4, 16], rng = new Rng(13);
    const x = tf.tensor4d(randn(rng, B * H * W * Ci), [B, H, W, Ci]), dy = tf.tensor4d(randn(rng, B * OH * OW * Co), [B, OH, OW, Co]);
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, Ci, Co] }) as tf.Tensor;
    const got = Float32Array.from(dw.dataSync() as Float32Array);
    const P = B * OH * OW;
    const g = rt.ints([B, H, W, Ci, OH, OW, Co, 3, 3, 2, 2, 1, 1]);
    const xt = rt.malloc(4 * P * Ci), dq = rt.malloc(4 * P * Co), out = rt.malloc(4 * 9 * Ci * Co);
    try {
      for (const nparts of [1, 2, 3]) {
        // NaN first, so a tile no part writes cannot pass on the previous round's values.
        new Float32Array(wasmMemory(tf.backend() as unknown as WasmBackendInternals).buffer, out, 9 * Ci * Co).fill(NaN);
        for (let part = 0; part < nparts; part++) rt.call1('pack_octets', rt.ptr(dy), P, Co, dq, part, nparts);
        for (let tap = 0; tap < 9; tap++) {
          for (let part = 0; part < nparts; part++) rt.call1('im2col_quads', g, rt.ptr(x), Math.floor(tap / 3), tap % 3, xt, part, nparts);
          for (let part = 0; part < nparts; part++) rt.call1('conv2d_dw_tap', g, xt, dq, out + 4 * tap * Ci * Co, part, nparts);
        }
        const mem = wasmMemory(tf.backend() as unknown as WasmBackendInternals);
        const want = new Float32Array(mem.buffer, out, 9 * Ci * Co);
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `${nparts} parts`).toBe(true);
      }
    } finally {
      for (const p of [g, xt, dq, out]) rt.free(p);
      tf.dispose([x, dy, dw]);
    }
  });
});

describe('batch-norm kernels', () => {
  for (const shape of [[3, 5, 7, 8], [128, 16], [2, 4, 4, 4]]) {
    it(`y, mean, variance and the gradients match moments + batchNorm for ${JSON.stringify(shape)}`, async () => {
      const rng = new Rng(shape.length * 31 + shape[0]);
      const C = shape[shape.length - 1], n = shape.reduce((a, b) => a * b, 1);
      // An offset mean, so the variance is not trivially E[x^2].
      const xv = randn(rng, n).map((v) => 3 + 2 * v), dyv = randn(rng, n);
      const gv = randn(rng, C), bv = randn(rng, C);
      const eps = 1e-3;
      const reference = (x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D) => {
        const { mean, variance } = tf.moments(x, shape.slice(0, -1).map((_, i) => i));
        return { y: tf.batchNorm(x, mean, variance, b, g, eps), mean, variance };
      };
      const run = (fast: boolean) => () => {
        const x = tf.tensor(xv, shape), g = tf.tensor1d(gv), b = tf.tensor1d(bv), dy = tf.tensor(dyv, shape);
        const forward = (xx: tf.Tensor, gg: tf.Tensor1D, bb: tf.Tensor1D) =>
          fast ? batchNormTrain(xx, gg, bb, eps) : (({ y, mean, variance }) => [y, mean, variance])(reference(xx, gg, bb));
        const [y, mean, variance] = forward(x, g, b);
        const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(forward(xx, gg as tf.Tensor1D, bb as tf.Tensor1D)[0], dy)))([x, g, b]);
        return [y, mean, variance, ...grads];
      };
      const [w, c] = [await valuesOn('wasm', run(true)), await valuesOn('cpu', run(false))];
      ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((name, i) => expect(relErr(w[i], c[i]), name).toBeLessThan(TOL));
    });
  }

  it('the BatchNormalization layer in training mode gives the same output and moving statistics', async () => {
    const rng = new Rng(5);
    const xv = randn(rng, 4 * 6 * 6 * 8).map((v) => 1 + v);
    const run = () => {
      const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      const x = tf.tensor4d(xv, [4, 6, 6, 8]);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      const [, , movingMean, movingVar] = layer.getWeights();
      const out = [y, movingMean, movingVar].map((t) => t.clone());
      layer.dispose();
      return out;
    };
    await agree(run, 'BatchNormalization layer');
  });
});

describe('max-pool gradient', () => {
  const cases = [
    { shape: [2, 8, 8, 32], f: 2, s: 2, pad: 'valid' as const },
    { shape: [2, 7, 9, 5], f: 3, s: 2, pad: 'same' as const },
    { shape: [1, 6, 6, 4], f: 3, s: 1, pad: 'same' as const },
    { shape: [3, 5, 5, 3], f: 2, s: 1, pad: 'valid' as const },
  ];
  for (const c of cases) {
    for (const relu of [false, true]) {
      // After a relu, windows of zeros tie: the gradient must go where tfjs sends it (first max).
      it(`${JSON.stringify(c)}${relu ? ' after relu (ties)' : ''}`, async () => {
        const rng = new Rng(c.shape[1] * 10 + c.f + (relu ? 1 : 0));
        const xv = randn(rng, c.shape.reduce((a, b) => a * b, 1)).map((v) => (relu ? Math.max(0, v - 0.5) : v));
        await agree(() => {
          const x = tf.tensor4d(xv, c.shape as [number, number, number, number]);
          return tf.grad((xx: tf.Tensor4D) => tf.sum(tf.mul(tf.maxPool(xx, c.f, c.s, c.pad),
            tf.range(1, 1 + tf.maxPool(x, c.f, c.s, c.pad).size).reshape(tf.maxPool(x, c.f, c.s, c.pad).shape))))(x);
        }, 'MaxPoolGrad');
      });
    }
  }
});

describe('transposed matrix products', () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[128, 37], [128, 16], true, false],
    [[16, 37], [21, 37], false, true],
    [[37, 13], [21, 37], true, true],
    [[3, 9, 5], [3, 7, 5], false, true],
    [[1, 9, 5], [3, 9, 6], true, false],
    [[9, 5], [4, 9, 6], true, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    it(`${JSON.stringify(as)} x ${JSON.stringify(bs)} transposeA=${ta} transposeB=${tb}`, async () => {
      const rng = new Rng(as.length * 100 + as[0]);
      const av = randn(rng, as.reduce((a, b) => a * b, 1)), bv = randn(rng, bs.reduce((a, b) => a * b, 1));
      await agree(() => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb), 'BatchMatMul');
    });
  }
});

describe('element-wise kernels', () => {
  it('relu, its gradient, identity and cast', async () => {
    const rng = new Rng(3);
    const xv = randn(rng, 1001), dyv = randn(rng, 1001);
    await agree(() => {
      const x = tf.tensor1d(xv), dy = tf.tensor1d(dyv);
      const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.relu(xx), dy)))(x);
      return [tf.relu(x), g, tf.clone(x), tf.cast(x, 'float32'), tf.cast(tf.cast(x, 'int32'), 'float32')];
    }, 'element-wise');
  });

  it('identity shares data without letting a disposal free the other tensor', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    y.dispose();
  });
});

describe('tile', () => {
  const cases: [number[], number[]][] = [
    [[], []], [[5], [3]], [[1, 1, 1, 32], [4, 7, 7, 1]], [[2, 3], [1, 1]], [[2, 3], [3, 2]],
    [[2, 1, 3], [2, 4, 1]], [[3, 2, 2, 1, 2], [1, 2, 1, 3, 2]], [[2, 3], [0, 2]], [[0, 3], [2, 2]],
  ];
  for (const [shape, reps] of cases) {
    it(`${JSON.stringify(shape)} × ${JSON.stringify(reps)} equals the cpu backend exactly (float32, int32, bool)`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const v = randn(new Rng(n + reps.length), n);
      const make = () => {
        const x = tf.tensor(v, shape);
        return [tf.tile(x, reps), tf.cast(tf.tile(tf.cast(tf.mul(x, 10), 'int32'), reps), 'float32'),
          tf.cast(tf.tile(tf.greater(x, 0), reps), 'float32')];
      };
      const [w, c] = [await valuesOn('wasm', make), await valuesOn('cpu', make)];
      w.forEach((out, i) => expect(Array.from(out)).toEqual(Array.from(c[i])));
    });
  }
});
