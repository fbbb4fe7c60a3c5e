import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path, { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { generateSet } from '../../src/data/index.js';
import { encodePng } from '../../src/run/images.js';
import { runCli } from '../data/helpers.js';
import { tempDir } from '../run/helpers.js';
import { saveLikeTfjsNode } from '../fit/plain-model.js';

// ares fit, eval and predict with --backend webgpu on Chromium's SwiftShader answer like wasm: the
// same detector (γ within float32 rounding), the same metrics, the same answers per image. A
// small dense model on 300 MNIST digits keeps SwiftShader (every GPU thread on the CPU) in seconds.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const ENV = { VK_ICD_FILENAMES: SWIFTSHADER_ICD, ARES_THREADS: '1', XDG_RUNTIME_DIR: mkdtempSync(path.join(os.tmpdir(), 'ares-xdg-')) };
const { dir, cleanup } = tempDir('webgpu-score-cli');
afterAll(cleanup);
const modelJson = join(dir, 'model', 'model.json');
const noiseDir = join(dir, 'noise');
const digits = ['--id', 'mnist', '--id-classes', '0,1,2,3,4,5', '--limit', '300', '--seed', '3'];

/** |a − b| relative to the larger magnitude (1 at least, so values near 0 compare absolutely). */
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

describe.skipIf(!existsSync(SWIFTSHADER_ICD))('ares fit, eval and predict on --backend webgpu (SwiftShader)', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'cpu' });
    const k = (s: number) => tf.initializers.glorotUniform({ seed: 40 + s });
    const model = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28, 1] }),
        tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: k(1) }),
        tf.layers.dense({ units: 6, activation: 'softmax', kernelInitializer: k(2) }),
      ],
    });
    await saveLikeTfjsNode(model, join(dir, 'model'));
    model.dispose();
    mkdirSync(noiseDir, { recursive: true });
    const set = generateSet('uniform', { shape: [28, 28, 1], count: 4, seed: 5, split: 'test' });
    for (let i = 0; i < set.count; i++) writeFileSync(join(noiseDir, `noise-${i}.png`), await encodePng(set, i));
    const digitsSet = generateSet('blobs', { shape: [28, 28, 1], count: 2, seed: 6, split: 'test' });
    for (let i = 0; i < digitsSet.count; i++) writeFileSync(join(noiseDir, `blob-${i}.png`), await encodePng(digitsSet, i));
  }, 60_000);

  it('fit deploys the same knn detector, eval gives the same metrics, predict the same answers', async () => {
    const fit = (backend: string) => runCli(['fit', '--model', modelJson, ...digits, '--score', 'knn', '--ood', 'uniform', '--out', join(dir, `run-${backend}`), '--json', '--backend', backend], ENV);
    const [gpu, wasm] = await Promise.all([fit('webgpu'), fit('wasm')]);
    expect(gpu.stderr).not.toMatch(/error/i);
    expect(gpu.code).toBe(0);
    expect(wasm.code).toBe(0);
    const detector = (backend: string) => JSON.parse(readFileSync(join(dir, `run-${backend}`, 'detector.json'), 'utf8'));
    const [dg, dw] = [detector('webgpu'), detector('wasm')];
    expect(dg.score.name).toBe('knn');
    expect(close(dg.threshold.gamma, dw.threshold.gamma, 1e-4)).toBe(true);
    const [mg, mw] = [JSON.parse(readFileSync(join(dir, 'run-webgpu', 'metrics.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'run-wasm', 'metrics.json'), 'utf8'))];
    expect([mg.backend, mw.backend]).toEqual(['webgpu', 'wasm']);
    expect(mg.idAccuracy).toBe(mw.idAccuracy);

    // eval of the webgpu run on both backends: energy and knn, every metric within rounding.
    const evalOn = (backend: string) => runCli(['eval', '--run', join(dir, 'run-webgpu'), '--score', 'energy,knn', '--json', '--backend', backend], ENV);
    const [eg, ew] = await Promise.all([evalOn('webgpu'), evalOn('wasm')]);
    expect(eg.stderr).not.toMatch(/error/i);
    expect(eg.code).toBe(0);
    const [rg, rw] = [JSON.parse(eg.stdout), JSON.parse(ew.stdout)];
    expect(rg.backend).toBe('webgpu');
    expect(rg.rows.length).toBe(rw.rows.length);
    expect(rg.rows.length).toBeGreaterThan(0);
    for (const [i, row] of rw.rows.entries()) {
      for (const key of ['auroc', 'fpr95'] as const) expect(close(rg.rows[i][key], row[key], 1e-3), `${row.score} ${key}`).toBe(true);
    }
    for (const s of ['energy', 'knn']) expect(close(rg.thresholds[s], rw.thresholds[s], 1e-4), `γ ${s}`).toBe(true);

    // predict with the webgpu run on both backends: the same answer and score per image.
    const predictOn = (backend: string) => runCli(['predict', '--run', join(dir, 'run-webgpu'), noiseDir, '--json', '--backend', backend], ENV);
    const [pg, pw] = await Promise.all([predictOn('webgpu'), predictOn('wasm')]);
    expect(pg.stderr).not.toMatch(/error/i);
    expect(pg.code).toBe(0);
    const [ag, aw] = [JSON.parse(pg.stdout).predictions, JSON.parse(pw.stdout).predictions];
    expect(ag).toHaveLength(6);
    for (const [i, p] of aw.entries()) {
      expect(ag[i].file).toBe(p.file);
      expect(ag[i].label).toBe(p.label);
      expect(close(ag[i].score, p.score, 1e-4), `${p.file} score`).toBe(true);
    }
  }, 300_000);
});
