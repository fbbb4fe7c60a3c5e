import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { engineInfo, initEngine, moveVariables, resolveAutoBackend } from '../../src/engine/backend.js';
import { createSgd } from '../../src/engine/sgd.js';
import { ceTrainStepAsync } from '../../src/methods/ce-step.js';
import { DEFAULT_CONFIG, type TrainConfig } from '../../src/methods/config.js';
import { createSession, train, trainStep } from '../../src/methods/train.js';
import type { ImageSet, PreparedDataset } from '../../src/data/types.js';
import { buildCnn } from '../../src/models/cnn.js';
import { buildModel, type Classifier } from '../../src/models/index.js';
import { AresError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu, randn, relErr } from './helpers.js';

// The webgpu backend on Dawn, run on Chromium's SwiftShader (a Vulkan driver that emulates a GPU
// on the CPU), so CI on a machine without a GPU runs the same WGSL kernels a GPU would. The
// Vulkan loader reads VK_ICD_FILENAMES when Dawn creates its instance, so it is set before any
// test starts the engine. Skipped only where Chromium's ICD file is absent.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const haveIcd = existsSync(SWIFTSHADER_ICD);
if (haveIcd) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
// Dawn warns when XDG_RUNTIME_DIR is unset.
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-'));

/** Values of tensors made by f on `backend`, read asynchronously (webgpu cannot read synchronously in Node). */
async function valuesOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  try {
    return await Promise.all(out.map(async (t) => Float32Array.from(await t.data() as Float32Array)));
  } finally {
    tf.dispose(out);
  }
}

interface OpCase {
  name: string;
  /** Shapes of the differentiable inputs. */
  shapes: number[][];
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Backends to compare with (default cpu and wasm). */
  references?: string[];
}

const rng = new Rng(5);
/** One-hot labels [4, 5] of classes 0, 3, 1, 4. */
const labelValues = Float32Array.from({ length: 20 }, (_, i) => (i % 5 === [0, 3, 1, 4][Math.floor(i / 5)] ? 1 : 0));

/** Tiny shapes: SwiftShader runs every GPU thread on the CPU. */
const OPS: OpCase[] = [
  { name: 'conv2d (3x3, same, stride 1)', shapes: [[2, 5, 5, 3], [3, 3, 3, 4]], f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') },
  { name: 'conv2d (3x3, valid, stride 2)', shapes: [[2, 7, 7, 2], [3, 3, 2, 3]], f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid') },
  // tfjs's wasm backend has no depthwise backprop kernels (the project trains no depthwise model on it).
  { name: 'depthwise conv2d (3x3, multiplier 2)', shapes: [[2, 5, 5, 3], [3, 3, 3, 2]], f: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), references: ['cpu'] },
  { name: 'matmul', shapes: [[4, 6], [6, 5]], f: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) },
  {
    // Training mode: the batch's own mean and biased variance, as the CNN's batch norm layers use them.
    name: 'batch norm (batch statistics)', shapes: [[4, 3, 3, 4], [4], [4]],
    f: (x, gamma, beta) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.batchNorm(x, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-5);
    },
  },
  { name: 'relu', shapes: [[3, 7]], f: (x) => tf.relu(x) },
  { name: 'softmax cross-entropy', shapes: [[4, 5]], f: (logits) => tf.losses.softmaxCrossEntropy(tf.tensor2d(labelValues, [4, 5]), logits) },
  { name: 'logsumexp', shapes: [[4, 6]], f: (x) => tf.logSumExp(x, 1) },
  { name: 'maxpool (2x2, stride 2)', shapes: [[2, 6, 6, 3]], f: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid') },
];

describe.skipIf(!haveIcd)('webgpu backend on SwiftShader', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', threads: 1 });
    await quietCpu();
    await initEngine({ backend: 'webgpu' });
    // tfjs runs ops on inputs under 1000 values on the CPU when those inputs are still CPU-side;
    // these tests are about the GPU kernels, so every op runs on the GPU.
    tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0);
  });

  it('starts on the adapter Dawn finds and names it; auto passes it over as a CPU emulation', async () => {
    expect(engineInfo()).toMatchObject({ backend: 'webgpu', customKernels: [] });
    expect(engineInfo().adapter).toMatch(/swiftshader/i);
    const said: string[] = [];
    expect(await resolveAutoBackend((l) => said.push(l))).toBe('wasm');
    expect(said).toEqual([expect.stringMatching(/^ares: backend auto: wasm \(the only WebGPU adapter is a CPU emulation, .*swiftshader/i)]);
  });

  it('moves variables from webgpu to wasm by value (how a run trained on webgpu is scored)', async () => {
    await initEngine({ backend: 'webgpu' });
    const values = randn(rng, 300);
    const v = tf.variable(tf.tidy(() => tf.mul(tf.tensor2d(values, [20, 15]), 2)));
    const before = tf.memory().numTensors;
    await moveVariables([v], 'wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(v.dataSync()).toEqual(Float32Array.from(values, (x) => Math.fround(2 * x)));
    v.dispose();
  });

  it('turns a synchronous read of a GPU tensor into an AresError naming the way out', async () => {
    await tf.setBackend('webgpu');
    const y = tf.tidy(() => tf.matMul(tf.ones([16, 16]), tf.ones([16, 16])));
    try {
      expect(() => y.dataSync()).toThrow(AresError);
      expect(() => y.dataSync()).toThrow(/--backend wasm/);
      expect((await y.data())[0]).toBe(16);
    } finally {
      y.dispose();
    }
  });

  // Forward values and the gradient of sum(w ⊙ op(x)) for every input, against tfjs's cpu backend
  // and this project's wasm kernels. Float32 with different summation orders (GPU reductions are
  // trees, the CPU's loops are sequential) over at most 54 terms per value: rounding differences
  // are ~1e-7 of the largest value (2.5e-7 at most when this was written); 1e-4 leaves room for
  // other drivers and still catches any wrong index, missing term or scale.
  it.each(OPS)('$name: forward and gradient match the cpu and wasm backends (relative 1e-4)', async (op) => {
    const inputs = op.shapes.map((s) => randn(rng, s.reduce((a, b) => a * b, 1)));
    let weights: Float32Array | null = null;
    const run = (): tf.Tensor[] => {
      const xs = inputs.map((v, i) => tf.tensor(v, op.shapes[i]));
      const y = op.f(...xs);
      weights ??= randn(rng, y.size);
      const w = tf.tensor(weights, y.shape);
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op.f(...a), w)))(xs);
      return [y, ...grads];
    };
    const gpu = await valuesOn('webgpu', run);
    for (const reference of op.references ?? ['cpu', 'wasm']) {
      const ref = await valuesOn(reference, run);
      ref.forEach((r, i) => expect(relErr(gpu[i], r), `${i === 0 ? 'forward' : `gradient ${i - 1}`} vs ${reference}`).toBeLessThan(1e-4));
    }
  });

  it('trains the reference CNN: the same SGD losses as wasm from the same weights, and no tensor growth', async () => {
    const [B, K, shape] = [4, 3, [8, 8, 1] as [number, number, number]];
    const data = new Rng(17);
    const batches = Array.from({ length: 4 }, () => ({
      x: Float32Array.from({ length: B * 64 }, () => data.uniform()),
      y: Int32Array.from({ length: B }, () => data.int(K)),
    }));
    const { losses, tensors } = await sgdLosses(['wasm', 'webgpu'], () => buildCnn(shape, K, 0), B, K, shape, batches, 0.05);
    // Four steps at lr 0.05 carry the per-op rounding differences (~1e-7) into the weights; batch
    // norm over 4 samples amplifies them (it divides by a small batch variance): the losses differed
    // by up to 8e-5 relative when this was written. The bound is looser than one op's, and still far
    // below a real difference (the loss moves ~1e-1 per step).
    for (let i = 0; i < batches.length; i++) {
      expect(Math.abs(losses.webgpu[i] - losses.wasm[i]), `step ${i}: ${losses.webgpu[i]} vs ${losses.wasm[i]}`).toBeLessThan(1e-3 * Math.abs(losses.wasm[i]));
    }
    expect(new Set(losses.wasm).size).toBe(batches.length); // the steps change something
    expect(tensors.slice(1)).toEqual(tensors.slice(1).map(() => tensors[1]));
  });

  it.each([['resnet18', 'cpu'], ['wrn40-2', 'wasm']] as const)('trains %s: the same SGD losses as %s from the same weights (8x8 inputs, batch 8)', async (name, reference) => {
    // The backbones' full depth (ResNet-18's 4 stages, WRN-40-2's 36 residual convolutions) at a
    // tiny input, so SwiftShader runs each step in seconds; the ops are those of the 32x32 model.
    // ResNet-18 is compared with tfjs's cpu backend: at this size (its last stage 1x1, batch norm
    // over 8 values) a rounding-size change flips ReLU masks and moves some gradients by percents
    // (inputs x (1 + 1e-6 u) do it on the cpu backend itself); the wasm engine's float64 batch-norm
    // sums land on the other side of such a flip, webgpu's float32 ones on cpu's side
    // (BENCHMARKS.md, "ResNet-18 gradients at tiny inputs").
    const [B, K, shape] = [8, 3, [8, 8, 3] as [number, number, number]];
    const data = new Rng(19);
    const batches = Array.from({ length: 2 }, () => ({
      x: Float32Array.from({ length: B * 8 * 8 * 3 }, () => data.uniform()),
      y: Int32Array.from({ length: B }, () => data.int(K)),
    }));
    // A small step: at lr 0.05 ResNet-18's loss jumped from ~1 to 14 in one step (batch norm over
    // its 1x1 last stage), which turns rounding differences into large ones.
    const { losses } = await sgdLosses([reference, 'webgpu'], () => buildModel(name, shape, K, 0), B, K, shape, batches, 0.005);
    // The same bound as the CNN's, for the same reason (rounding carried through a step of SGD).
    const ref = losses[reference];
    for (let i = 0; i < batches.length; i++) {
      expect(Math.abs(losses.webgpu[i] - ref[i]), `step ${i}: ${losses.webgpu[i]} vs ${ref[i]}`).toBeLessThan(1e-3 * Math.abs(ref[i]));
    }
    expect(ref[1]).not.toBe(ref[0]);
  });

  it('trains 2 epochs of --method ce like wasm, and a checkpoint from either backend resumes on the other like the run that wrote it', async () => {
    const data = tinyDataset();
    const cfg: TrainConfig = { ...DEFAULT_CONFIG, id: 'generated', method: 'ce', epochs: 2, pretrainEpochs: 0, batchSize: 4, augment: 'none', lr: 0.05, seed: 3 };
    const losses = (h: { loss: number }[]) => h.map((e) => e.loss);
    const on = async (backend: 'wasm' | 'webgpu', opts: Parameters<typeof train>[2] = {}) => {
      await initEngine({ backend });
      expect(tf.getBackend()).toBe(backend);
      const r = await train(cfg, data, opts);
      r.model.layersModel.dispose();
      return r;
    };
    const wasm = losses((await on('wasm')).history);
    const gpu = await on('webgpu');
    expect(gpu.finished).toBe(true);
    const dirs = [mkdtempSync(path.join(os.tmpdir(), 'ares-webgpu-resume-')), mkdtempSync(path.join(os.tmpdir(), 'ares-webgpu-resume-'))];
    try {
      await on('webgpu', { outDir: dirs[0], stopAfterEpochs: 1 });
      const gpuThenWasm = await on('wasm', { outDir: dirs[0], resume: true });
      await on('wasm', { outDir: dirs[1], stopAfterEpochs: 1 });
      const wasmThenGpu = await on('webgpu', { outDir: dirs[1], resume: true });
      // Same bound as the steps above: 8 steps carry rounding differences of ~1e-7 per op.
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      const [g, gw, wg] = [losses(gpu.history), losses(gpuThenWasm.history), losses(wasmThenGpu.history)];
      // The first epoch (4 steps) stays within rounding of wasm (4.5e-5 relative when this was written).
      for (const h of [g, gw, wg]) expect(rel(h[0], wasm[0]), `first epoch: ${h[0]} vs ${wasm[0]}`).toBeLessThan(1e-3);
      // By the second, training on 16 images at batch 4 has amplified rounding differences to a few
      // percent: webgpu's 0.1572 vs wasm's 0.1620, and tfjs's cpu backend (0.1579) differs from wasm
      // as much. So the whole-run bound is loose (10%), and the resume check below is the tight one.
      expect(rel(g[1], wasm[1]), `second epoch: ${g[1]} vs ${wasm[1]}`).toBeLessThan(0.1);
      // A resumed run continues like the run that wrote the checkpoint, on either backend: what the
      // second epoch depends on (weights, momentum, BN statistics) crossed over intact (1e-6 seen).
      expect(rel(gw[1], g[1]), `webgpu checkpoint resumed on wasm: ${gw[1]} vs ${g[1]}`).toBeLessThan(1e-4);
      expect(rel(wg[1], wasm[1]), `wasm checkpoint resumed on webgpu: ${wg[1]} vs ${wasm[1]}`).toBeLessThan(1e-4);
      expect(wasm[1]).not.toBeCloseTo(wasm[0], 2); // the second epoch is a different number to match
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveIcd)('webgpu backend: the outlier methods', () => {
  // Pool and queue sizes and candidate counts shrunk to the tiny data; pretrainEpochs 0 so every
  // step runs the outlier stage (ARES: pool, estimation, divergence; VOS once its queues are full).
  const base = { ...DEFAULT_CONFIG, id: 'generated', epochs: 1, pretrainEpochs: 0, batchSize: 4, augment: 'none', lr: 0.05, seed: 4,
    fractalBankSize: 8, poolSize: 32, candidates: 64, vosQueue: 2, vosCandidates: 64 } as const;

  it.each(['ares', 'vos'] as const)('%s trains on webgpu like on wasm, reading features within the step', async (method) => {
    const cfg: TrainConfig = { ...base, method };
    const runs: Record<string, Awaited<ReturnType<typeof train>>> = {};
    for (const backend of ['wasm', 'webgpu'] as const) {
      await initEngine({ backend });
      expect(tf.getBackend()).toBe(backend);
      runs[backend] = await train(cfg, tinyDataset());
      runs[backend].model.layersModel.dispose();
    }
    const [g, w] = [runs.webgpu.history[0], runs.wasm.history[0]];
    // One epoch of 4 steps: rounding differences only (as for ce above).
    expect(Math.abs(g.loss - w.loss), `loss ${g.loss} vs ${w.loss}`).toBeLessThan(1e-3 * Math.abs(w.loss));
    expect(g.jsd).not.toBeNull();
    expect(Math.abs(g.jsd! - w.jsd!), `outlier term ${g.jsd} vs ${w.jsd}`).toBeLessThan(1e-3 * Math.abs(w.jsd!) + 1e-6);
    expect(runs.webgpu.lastOutliers!.v.length).toBe(runs.wasm.lastOutliers!.v.length);
  });

  it.each(['ares', 'vos'] as const)('%s steps on webgpu hold the tensor count steady', async (method) => {
    await initEngine({ backend: 'webgpu' });
    const data = tinyDataset();
    const s = createSession({ ...base, method }, data);
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const batch = data.train.images.slice(i * 4 * 64, (i + 1) * 4 * 64);
      const r = await trainStep(s, batch, data.train.labels!.slice(i * 4, (i + 1) * 4), 0, i, 0.05);
      expect(Number.isFinite(r.loss)).toBe(true);
      counts.push(tf.memory().numTensors);
    }
    s.sgd.dispose();
    s.model.layersModel.dispose();
    // From the second step on (the first may make lasting state, e.g. VOS's full queues switch its loss on).
    expect(counts.slice(2)).toEqual([counts[1], counts[1]]);
  });

  it('ares with --divergence jsd trains on webgpu like on wasm (its quadrature grid placed on the device)', async () => {
    const cfg: TrainConfig = { ...base, method: 'ares', divergence: 'jsd' };
    const runs: Record<string, Awaited<ReturnType<typeof train>>> = {};
    for (const backend of ['wasm', 'webgpu'] as const) {
      await initEngine({ backend });
      runs[backend] = await train(cfg, tinyDataset());
      runs[backend].model.layersModel.dispose();
    }
    const [g, w] = [runs.webgpu.history[0], runs.wasm.history[0]];
    expect(Math.abs(g.loss - w.loss), `loss ${g.loss} vs ${w.loss}`).toBeLessThan(1e-3 * Math.abs(w.loss));
    expect(Math.abs(g.jsd! - w.jsd!), `outlier term ${g.jsd} vs ${w.jsd}`).toBeLessThan(1e-3 * Math.abs(w.jsd!) + 1e-6);
  });
});

/**
 * CE losses of SGD steps on each backend from the same initial weights (those of a model built on
 * the first backend), and the webgpu tensor count after each step.
 */
async function sgdLosses(backends: readonly string[], build: () => Classifier, B: number, K: number, shape: [number, number, number],
  batches: { x: Float32Array; y: Int32Array }[], lr: number): Promise<{ losses: Record<string, number[]>; tensors: number[] }> {
  await tf.setBackend(backends[0]);
  const initial = build();
  const weights = initial.allVariables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
  initial.layersModel.dispose();
  const losses: Record<string, number[]> = {};
  const tensors: number[] = [];
  for (const backend of backends) {
    await tf.setBackend(backend);
    const model = build();
    model.allVariables.forEach((v, i) => v.assign(tf.tensor(weights[i], v.shape)));
    const sgd = createSgd(model.trainableVariables);
    losses[backend] = [];
    for (const b of batches) {
      const x = tf.tensor4d(b.x, [B, ...shape]);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(b.y, 'int32'), K).toFloat()) as tf.Tensor2D;
      losses[backend].push(await ceTrainStepAsync(model, sgd, x, y, lr));
      tf.dispose([x, y]);
      if (backend === 'webgpu') tensors.push(tf.memory().numTensors);
    }
    sgd.dispose();
    model.layersModel.dispose();
  }
  return { losses, tensors };
}

/** 8×8 grey images of 3 classes, each class a brighter row band plus noise, so training has something to learn. */
function tinyDataset(): PreparedDataset {
  const noise = new Rng(23);
  const set = (name: string, count: number): ImageSet => {
    const labels = Int32Array.from({ length: count }, (_, i) => i % 3);
    const images = Float32Array.from({ length: count * 64 }, (_, j) => {
      const [img, row] = [Math.floor(j / 64), Math.floor((j % 64) / 8)];
      return Math.floor(row / 3) === labels[img] ? 0.8 + 0.2 * noise.uniform() : 0.3 * noise.uniform();
    });
    return { name, shape: [8, 8, 1], count, images, labels, classNames: ['a', 'b', 'c'] };
  };
  return {
    train: set('tiny:train', 16), val: set('tiny:val', 6), test: set('tiny:test', 6), ood: [], valOod: [],
    normalization: { mean: [0.4], std: [0.3] }, classNames: ['a', 'b', 'c'], shape: [8, 8, 1],
  };
}
