import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { evaluate, evaluateAsync, type EvaluationResult, type ScoreName } from '../../src/eval/evaluate.js';
import type { ImageSet, PreparedDataset } from '../../src/data/types.js';
import { fromLayers } from '../../src/models/layers-classifier.js';
import type { Classifier } from '../../src/models/types.js';
import { decodeKnnBank, knn, knnScores } from '../../src/scores/knn.js';
import { Rng } from '../../src/util/rng.js';
import { quietCpu } from './helpers.js';

// Scoring (ares eval / fit's evaluation) on the webgpu backend, run on Chromium's SwiftShader:
// evaluateAsync's forward passes, ODIN's gradient passes and the head's weights are read with await
// on webgpu; its scores must be the wasm ones up to float32 rounding. Tiny shapes: SwiftShader runs
// every GPU thread on the CPU, and its times say nothing about a GPU.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const haveIcd = existsSync(SWIFTSHADER_ICD);
if (haveIcd) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-'));

const SHAPE: [number, number, number] = [6, 6, 3];
const K = 3;

/** Images whose class sets the mean brightness of one channel, so the model separates them a little. */
function labelledSet(name: string, count: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const per = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % K;
    for (let j = 0; j < per; j++) images[i * per + j] = Math.min(1, Math.max(0, 0.3 * rng.uniform() + (j % 3 === labels[i] ? 0.6 : 0.1)));
  }
  return { name, shape: SHAPE, count, images, labels, classNames: ['a', 'b', 'c'], split: 'all' };
}

function noiseSet(name: string, count: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: count * SHAPE[0] * SHAPE[1] * SHAPE[2] }, () => rng.uniform());
  return { name, shape: SHAPE, count, images, split: 'all' };
}

const data: PreparedDataset = {
  train: labelledSet('train', 30, 1), val: labelledSet('val', 12, 2), test: labelledSet('test', 12, 3),
  ood: [noiseSet('noise', 10, 4)], valOod: [noiseSet('val-noise', 8, 5)],
  normalization: { mean: [0.4, 0.4, 0.4], std: [0.3, 0.3, 0.3] }, classNames: ['a', 'b', 'c'], shape: SHAPE,
};

/** flatten → dense 8 (relu; the features) → dense 3 (the linear head), seeded weights. */
function tinyClassifier(): Classifier {
  const input = tf.input({ shape: SHAPE });
  const features = tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }), biasInitializer: 'ones' })
    .apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor;
  const head = tf.layers.dense({ units: K, kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }), name: 'head' });
  const logits = head.apply(features) as tf.SymbolicTensor;
  return fromLayers('cnn', tf.model({ inputs: input, outputs: [logits, features] }), head, SHAPE, K, 8);
}

const SCORES: ScoreName[] = ['energy', 'msp', 'knn', 'mahalanobis', 'vim', 'odin'];
const OPTS = { scores: SCORES, batchSize: 8, auto: true, seed: 0, autoCandidates: ['energy', 'msp', 'knn', 'mahalanobis'] as const };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.skipIf(!haveIcd)('scoring on webgpu (SwiftShader)', () => {
  let wasm: EvaluationResult, wasmAsync: EvaluationResult, gpu: EvaluationResult;
  beforeAll(async () => {
    await initEngine({ backend: 'wasm', threads: 1 });
    await quietCpu();
    const model = tinyClassifier();
    wasm = evaluate(model, data, { ...OPTS, autoCandidates: [...OPTS.autoCandidates] });
    wasmAsync = await evaluateAsync(model, data, { ...OPTS, autoCandidates: [...OPTS.autoCandidates] });
    // The same weights on webgpu: tfjs moves each variable there on its first use.
    await initEngine({ backend: 'webgpu' });
    tf.env().set('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD', 0); // every op on the GPU, however small
    gpu = await evaluateAsync(model, data, { ...OPTS, autoCandidates: [...OPTS.autoCandidates] });
    expect(tf.getBackend()).toBe('webgpu'); // evaluateAsync puts webgpu back after scoring on wasm
  }, 120_000);

  it('evaluateAsync on wasm gives evaluate\'s numbers bit for bit', () => {
    for (const s of SCORES) {
      expect(Array.from(wasmAsync.scores[s].id)).toEqual(Array.from(wasm.scores[s].id));
      expect(Array.from(wasmAsync.scores[s].ood[0].scores)).toEqual(Array.from(wasm.scores[s].ood[0].scores));
    }
    expect(wasmAsync.thresholds).toEqual(wasm.thresholds);
    expect(wasmAsync.selection!.chosen).toBe(wasm.selection!.chosen);
  });

  it('every score on webgpu is the wasm score within 1e-3 (relative to the score range); accuracy and the auto pick agree', () => {
    expect(gpu.accuracy).toBe(wasm.accuracy);
    for (const s of SCORES) {
      const all = [...wasm.scores[s].id, ...wasm.scores[s].val, ...wasm.scores[s].ood[0].scores];
      const range = Math.max(...all) - Math.min(...all) || 1;
      for (const part of ['id', 'val'] as const) expect(maxAbsDiff(gpu.scores[s][part], wasm.scores[s][part]) / range, `${s} ${part}`).toBeLessThan(1e-3);
      expect(maxAbsDiff(gpu.scores[s].ood[0].scores, wasm.scores[s].ood[0].scores) / range, `${s} ood`).toBeLessThan(1e-3);
    }
    expect(gpu.selection!.chosen).toBe(wasm.selection!.chosen);
    expect(Object.keys(gpu.fitted).sort()).toEqual(Object.keys(wasm.fitted).sort());
  });

  it('knn scores on webgpu without synchronous reads (predict\'s path): the tensor path\'s numbers', async () => {
    // On webgpu in Node knnScores computes in plain JavaScript; on wasm with tfjs. Same formula.
    const rng = new Rng(9);
    const rows = (n: number, d: number) => ({ data: Float32Array.from({ length: n * d }, () => rng.normal()), rows: n, cols: d });
    const train = rows(40, 5), query = rows(7, 5);
    const det = knn({ k: 3 }).fit({ logits: rows(40, 2), features: train, labels: new Int32Array(40) });
    const bank = decodeKnnBank(det.state!);
    const onGpu = knnScores(bank, query);
    await initEngine({ backend: 'wasm' });
    try {
      expect(maxAbsDiff(onGpu, knnScores(bank, query))).toBeLessThan(1e-5);
    } finally {
      await initEngine({ backend: 'webgpu' });
    }
  });
});
