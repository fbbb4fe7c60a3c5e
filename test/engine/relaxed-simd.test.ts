import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { batchNormTrainConfig, batchNormTrainGradConfig } from '../../src/engine/kernels/batch-norm.js';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig, conv2dConfig, fusedConv2dConfig } from '../../src/engine/kernels/conv.js';
import { batchMatMulConfig } from '../../src/engine/kernels/matmul.js';
import {
  KernelRuntime, chooseKernelBuild, relaxedMaddFuses, relaxedSimdSupported, type KernelBuild,
} from '../../src/engine/kernels/runtime.js';
import { Rng } from '../../src/util/rng.js';
import { randn, relErr } from './helpers.js';

// The plain and the relaxed-SIMD build of the kernels (simd.h's MAC: mul + add, or
// f32x4.relaxed_madd) run the same sums in the same order. Where the engine does not fuse
// relaxed_madd it is that very mul and add, so the builds agree bit for bit. Where it fuses (V8
// on a CPU with FMA), each multiply-add rounds once instead of twice and the builds differ by
// rounding only: per K-term sum at most about 2K * 2^-24 * sum|a*b| (one product rounding per
// term plus the sums' own, different, roundings), and for random data like a random walk,
// ~sqrt(K) * 2^-24. Measured (relErr: max |relaxed - plain| / max |plain|): direct convolutions,
// F(2x2, 3x3), batch norm and matmul 0 to 3e-7; F(4x4, 3x3) 2e-6 to 5e-6, because its output
// transform (entries up to 8, six terms each way) amplifies differences in the transformed
// products, the same reason the kernel tests allow 1e-4 against tfjs's cpu backend. We allow 2e-5:
// 4x the worst measured, 5x under that 1e-4, and a real bug (a wrong tap, a missed channel)
// moves outputs by far more. It holds fused or not.
const BUILD_TOL = 2e-5;

let fused = false;
// Runtimes for each build on 1 thread and on 2 (the backend's memory is shared, so both use the
// shared-memory wasm files; the 1-thread runtime just has no helper threads).
const runtimes = new Map<string, KernelRuntime>();
const key = (build: KernelBuild, threads: number) => `${build}/${threads}`;

beforeAll(async () => {
  const info = await initEngine({ backend: 'wasm', threads: 2 });
  expect(info.threads).toBe(2);
  expect(relaxedSimdSupported()).toBe(true);
  fused = relaxedMaddFuses();
  for (const build of ['plain', 'relaxed'] as const) {
    for (const threads of [1, 2]) runtimes.set(key(build, threads), await KernelRuntime.create(tf.findBackend('wasm')!, threads, build));
  }
  return async () => { for (const rt of runtimes.values()) await rt.dispose(); };
});

// Makes the test fail if a case falls back to tfjs's own kernel instead of ours.
const noFallback: tf.KernelFunc = () => { throw new Error('fell back to tfjs\'s kernel'); };

type Op = (rt: KernelRuntime) => { config: tf.KernelConfig; inputs: Record<string, number[] | Float32Array>; shapes: Record<string, number[]>; attrs: object };

/** Runs one kernel config built on `rt` directly (not through the registry) and reads its outputs. */
function runOn(rt: KernelRuntime, op: Op): Float32Array[] {
  const { config, inputs, shapes, attrs } = op(rt);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([name, v]) => [name, tf.tensor(v, shapes[name])]));
  try {
    const out = config.kernelFunc({ inputs: tensors, backend: tf.backend(), attrs: attrs as tf.NamedAttrMap });
    return (Array.isArray(out) ? out : [out]).map((info) => {
      const t = tf.engine().makeTensorFromTensorInfo(info);
      const v = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      return v;
    });
  } finally { tf.dispose(Object.values(tensors)); }
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

interface Conv { B: number; H: number; W: number; Ci: number; Co: number; k: number; s: number }

function convOps(c: Conv, seed: number): Record<string, Op> {
  const rng = new Rng(seed);
  const oh = Math.ceil(c.H / c.s), ow = Math.ceil(c.W / c.s);
  const x = randn(rng, c.B * c.H * c.W * c.Ci), w = randn(rng, c.k * c.k * c.Ci * c.Co);
  const dy = randn(rng, c.B * oh * ow * c.Co), bias = randn(rng, c.Co);
  const xs = [c.B, c.H, c.W, c.Ci], ws = [c.k, c.k, c.Ci, c.Co], dys = [c.B, oh, ow, c.Co];
  const conv = { strides: c.s, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  return {
    forward: (rt) => ({ config: conv2dConfig(rt, noFallback), inputs: { x, filter: w }, shapes: { x: xs, filter: ws }, attrs: conv }),
    fused: (rt) => ({
      config: fusedConv2dConfig(rt, noFallback), inputs: { x, filter: w, bias }, shapes: { x: xs, filter: ws, bias: [c.Co] },
      attrs: { ...conv, activation: 'relu' },
    }),
    dx: (rt) => ({
      config: conv2dBackpropInputConfig(rt, noFallback), inputs: { dy, filter: w }, shapes: { dy: dys, filter: ws },
      attrs: { ...conv, inputShape: xs },
    }),
    dw: (rt) => ({ config: conv2dBackpropFilterConfig(rt), inputs: { x, dy }, shapes: { x: xs, dy: dys }, attrs: { ...conv, filterShape: ws } }),
  };
}

function cases(): Array<[string, Op]> {
  const out: Array<[string, Op]> = [];
  const convs: Array<[string, Conv]> = [
    ['Winograd F(4x4, 3x3)', { B: 2, H: 12, W: 10, Ci: 64, Co: 32, k: 3, s: 1 }],
    ['Winograd F(2x2, 3x3)', { B: 3, H: 3, W: 3, Ci: 16, Co: 16, k: 3, s: 1 }],
    ['direct 5x5 stride 2', { B: 2, H: 9, W: 11, Ci: 12, Co: 12, k: 5, s: 2 }],
    ['direct 1x1', { B: 2, H: 6, W: 6, Ci: 16, Co: 24, k: 1, s: 1 }],
  ];
  convs.forEach(([name, c], i) => {
    for (const [pass, op] of Object.entries(convOps(c, 100 + i))) out.push([`conv ${pass}, ${name}`, op]);
  });
  const rng = new Rng(3);
  const N = 6 * 7 * 9, C = 16;
  const x = randn(rng, N * C).map((v) => 3 + 2 * v), dy = randn(rng, N * C), gamma = randn(rng, C), beta = randn(rng, C);
  const shape = [6, 7, 9, C];
  out.push(['batch norm forward', (rt) => ({
    config: batchNormTrainConfig(rt), inputs: { x, gamma, beta }, shapes: { x: shape, gamma: [C], beta: [C] }, attrs: { epsilon: 1e-3 },
  })]);
  // The gradient's inputs: the batch's mean and variance in f64 (as the forward computes them).
  const mean = Array.from({ length: C }, (_, c) => { let s = 0; for (let n = 0; n < N; n++) s += x[n * C + c]; return s / N; });
  const variance = mean.map((m, c) => { let s = 0; for (let n = 0; n < N; n++) s += (x[n * C + c] - m) ** 2; return s / N; });
  out.push(['batch norm gradient', (rt) => ({
    config: batchNormTrainGradConfig(rt), inputs: { dy, x, gamma, mean, variance },
    shapes: { dy: shape, x: shape, gamma: [C], mean: [C], variance: [C] }, attrs: { epsilon: 1e-3 },
  })]);
  for (const [transposeA, transposeB] of [[true, false], [false, true], [true, true]]) {
    const M = 37, K = 150, Nn = 21;
    const a = randn(rng, M * K), b = randn(rng, K * Nn);
    out.push([`matmul transposeA=${transposeA} transposeB=${transposeB}`, (rt) => ({
      config: batchMatMulConfig(rt, noFallback), inputs: { a, b },
      shapes: { a: transposeA ? [K, M] : [M, K], b: transposeB ? [Nn, K] : [K, Nn] }, attrs: { transposeA, transposeB },
    })]);
  }
  return out;
}

describe('relaxed-SIMD kernels', () => {
  it('are chosen by ARES_WASM_SIMD or detection, and a bad value names the variable', () => {
    expect(chooseKernelBuild('plain')).toBe('plain');
    expect(chooseKernelBuild('relaxed')).toBe('relaxed');
    expect(chooseKernelBuild(undefined)).toBe('relaxed');  // supported here: see beforeAll
    expect(chooseKernelBuild('')).toBe('relaxed');
    expect(() => chooseKernelBuild('fma')).toThrow(/ARES_WASM_SIMD must be plain or relaxed.*"fma"/);
    expect(runtimes.get(key('relaxed', 2))!.build).toBe('relaxed');
    expect(runtimes.get(key('plain', 2))!.build).toBe('plain');
  });

  for (const [name, op] of cases()) {
    it(`${name}: same bits on 1 and 2 threads for each build; relaxed within rounding of plain`, () => {
      const got: Record<string, Float32Array[]> = {};
      for (const [k, rt] of runtimes) got[k] = runOn(rt, op);
      for (const build of ['plain', 'relaxed'] as const) {
        got[key(build, 1)].forEach((v, i) => expect(sameBits(v, got[key(build, 2)][i]), `${build} output ${i}, 1 vs 2 threads`).toBe(true));
      }
      const plain = got[key('plain', 1)], relaxed = got[key('relaxed', 1)];
      plain.forEach((p, i) => expect(relErr(relaxed[i], p), `output ${i}`).toBeLessThan(BUILD_TOL));
      // Fused: rounding differs somewhere (so the relaxed module really ran); unfused: not at all.
      const identical = plain.every((p, i) => sameBits(p, relaxed[i]));
      expect(identical, fused ? 'fused madd should change some rounding' : 'unfused madd is plain\'s mul + add').toBe(!fused);
    });
  }
});

describe('ares bench with ARES_WASM_SIMD', () => {
  const bench = (simd: string, threads: number) => spawnSync(process.execPath,
    ['bin/ares.js', 'bench', '--json', '--steps', '1', '--warmup', '0', '--batch', '8', '--threads', String(threads)],
    { encoding: 'utf8', env: { ...process.env, ARES_WASM_SIMD: simd } });

  it('reports the kernel build that ran, with the same loss on 1 and 2 threads for each build', () => {
    const loss: Record<string, number> = {};
    for (const simd of ['plain', 'relaxed']) {
      for (const threads of [1, 2]) {
        const r = bench(simd, threads);
        expect(r.status, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout.trim());
        expect(out).toMatchObject({ backend: 'wasm', threads, kernel_simd: simd });
        if (threads === 1) loss[simd] = out.loss;
        else expect(out.loss, `${simd}: 1 vs 2 threads`).toBe(loss[simd]);
      }
    }
    expect(Math.abs(loss.relaxed - loss.plain)).toBeLessThan(1e-4 * Math.abs(loss.plain));
  });

  it('rejects an unknown ARES_WASM_SIMD in one line, exit code 2, instead of falling back to cpu', () => {
    const r = bench('fma', 1);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ares: error: ARES_WASM_SIMD must be plain or relaxed \(or unset to detect\), not "fma"$/);
  });
});
