import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { loadDetector, type Prediction } from '../../src/export/loader.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';

/**
 * The detector in Node on a program's webgpu backend (Dawn on Chromium's SwiftShader, as in
 * test/engine/webgpu.test.ts): every read it makes is awaited, so it predicts there, including
 * images of another size (resized through the input contract after an awaited read), with the
 * answers wasm gives. The loader keeps the backend the program set.
 */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const haveIcd = existsSync(SWIFTSHADER_ICD);
if (haveIcd) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(os.tmpdir(), 'ares-xdg-'));

const REPO = resolve(import.meta.dirname, '..', '..');
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'loader-webgpu-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let run: TinyRun;
const N = 12;

/** N test digits at 28×28, and the same digits padded to 32×32 (another size: the loader resizes them). */
function inputs(): { same: tf.Tensor4D; other: tf.Tensor4D } {
  const px = run.data.test.images.slice(0, N * 784);
  return tf.tidy(() => {
    const same = tf.tensor4d(px, [N, 28, 28, 1]);
    return { same, other: tf.pad(same, [[0, 0], [2, 2], [2, 2], [0, 0]]) as tf.Tensor4D };
  });
}

async function answersOn(backend: 'wasm' | 'webgpu'): Promise<{ same: Prediction[]; other: Prediction[]; backend: string }> {
  await initEngine({ backend, threads: 1 });
  const d = await loadDetector(join(dir, 'run'));
  const x = inputs();
  try {
    return { same: await d.predict(x.same), other: await d.predict(x.other), backend: tf.getBackend() };
  } finally {
    tf.dispose([x.same, x.other]);
    d.dispose();
  }
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
  run = await buildTinyRun(join(dir, 'run'), { seed: 2, limit: 600, epochs: 2 });
}, 120_000);

describe.skipIf(!haveIcd)('loadDetector on the webgpu backend in Node', () => {
  it('predicts with awaited reads only, as wasm does (labels exactly, scores within 1e-3)', async () => {
    const wasm = await answersOn('wasm');
    const gpu = await answersOn('webgpu');
    expect(gpu.backend).toBe('webgpu');
    for (const k of ['same', 'other'] as const) {
      expect(gpu[k].map((p) => p.label)).toEqual(wasm[k].map((p) => p.label));
      gpu[k].forEach((p, i) => expect(Math.abs(p.score - wasm[k][i].score), `${k} ${i}`).toBeLessThanOrEqual(1e-3));
    }
    // The resized images are a different input: their scores differ from the 28×28 ones somewhere.
    expect(wasm.other.some((p, i) => Math.abs(p.score - wasm.same[i].score) > 1e-3)).toBe(true);
  }, 120_000);
});
