import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateSet, type ImageSet } from '../../src/data/index.js';
import { initEngine } from '../../src/engine/backend.js';
import { exportBundle } from '../../src/export/bundle.js';
import { loadDetector, type Prediction } from '../../src/export/loader.js';
import { serveBundle } from '../../src/export/page/server.js';
import { encodePng } from '../../src/run/images.js';
import { chromiumMissing, openBrowser } from '../fixtures/browser.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';

/**
 * The exported page and loader on WebGPU: headless Chromium with WebGPU on SwiftShader (a Vulkan
 * driver emulating a GPU on the CPU, shipped with Debian's chromium) runs the bundle on the webgpu
 * backend, says so, and gives the same answers as Node's wasm backend; without the switches the
 * page runs on the backend it used before. SwiftShader's speed says nothing about a GPU's.
 */
const REPO = resolve(import.meta.dirname, '..', '..');
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'page-webgpu-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runDir = join(dir, 'run');
const bundleDir = join(dir, 'bundle');

/** Chromium's switches for WebGPU on its SwiftShader adapter (Linux has no WebGPU by default). */
const WEBGPU_SWITCHES = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];
/**
 * Scores (−energy of 6 logits) from WebGPU against wasm: float32 on both with different summation
 * orders; the export tests hold cpu and webgl in the browser to the same 1e-3.
 */
const SCORE_TOLERANCE = 1e-3;

let run: TinyRun;
/** 12 held-in test digits, 6 held-out digits, 6 Gaussian noise images: [24, 28, 28, 1], 8-bit values. */
let pixels: Float32Array;
let wasmAnswers: Prediction[];
let pngs: { name: string; png: Buffer; index: number }[];

const N = 24;
const PX = 28 * 28;
const quantise = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
  run = await buildTinyRun(runDir, { seed: 1, limit: 1000, epochs: 3 });
  await exportBundle(runDir, bundleDir);
  const noise = generateSet('gaussian', { shape: [28, 28, 1], count: 6, seed: 4242, split: 'test' });
  const parts: [ImageSet, number][] = [[run.data.test, 12], [run.data.ood[0], 6], [noise, 6]];
  pixels = new Float32Array(N * PX);
  let at = 0;
  for (const [set, n] of parts) { pixels.set(set.images.subarray(0, n * PX).map(quantise), at); at += n * PX; }
  const d = await loadDetector(bundleDir);
  const x = tf.tensor4d(pixels, [N, 28, 28, 1]);
  try { wasmAnswers = await d.predict(x); } finally { x.dispose(); d.dispose(); }
  // The comparison must be able to fail on either outcome: both occur among these images.
  expect(wasmAnswers.some((p) => p.label === 'unknown')).toBe(true);
  expect(wasmAnswers.some((p) => p.label !== 'unknown')).toBe(true);
  pngs = [
    { name: 'digit.png', png: await encodePng(run.data.test, 0), index: 0 },
    { name: 'noise.png', png: await encodePng(noise, 0), index: 18 },
  ];
}, 120_000);

interface PageResult {
  backend: string | undefined;
  status: string | null;
  cards: { name: string; label: string; score: number }[];
  answers: Prediction[];
  requested: string[];
  problems: string[];
}

/** Runs in the page: every image through a detector from the page's own loader.js. */
const SCORE_ALL = `(async (px) => {
  const tf = await import('/tf.fesm.min.js');
  const { loadDetector } = await import('/loader.js');
  const d = await loadDetector('./');
  const x = tf.tensor4d(Float32Array.from(px), [px.length / 784, 28, 28, 1]);
  try { return await d.predict(x); } finally { x.dispose(); d.dispose(); }
})`;

/** Opens the bundle's index.html, drops two PNGs on it, then scores all N images with the page's own loader. */
async function runPage(args: string[]): Promise<PageResult> {
  const server = await serveBundle(bundleDir, { port: 0 });
  const { browser, page, problems } = await openBrowser(undefined, args);
  const requested: string[] = [];
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  try {
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60_000 });
    expect(await page.$eval('#error', (e) => e.textContent)).toBe('');
    for (const f of pngs) {
      await page.setInputFiles('#files', { name: f.name, mimeType: 'image/png', buffer: f.png });
      await page.waitForSelector(`.card[data-name="${f.name}"]`, { timeout: 60_000 });
    }
    const cards = await page.$$eval('.card', (es) => es.map((e) => ({
      name: (e as HTMLElement).dataset.name!, label: (e as HTMLElement).dataset.label!, score: Number((e as HTMLElement).dataset.score),
    })));
    // The same module URLs as the page's, so the same tfjs instance and the backend it chose. A
    // string, because vitest rewrites import() inside functions it compiles.
    const answers = await page.evaluate(`${SCORE_ALL}(${JSON.stringify(Array.from(pixels))})`) as Prediction[];
    return {
      backend: await page.$eval('body', (b) => (b as HTMLElement).dataset.backend), status: await page.textContent('#status'),
      cards, answers, requested, problems,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

function expectSameAnswers(got: Prediction[], want: Prediction[]): number {
  expect(got.map((p) => p.label)).toEqual(want.map((p) => p.label));
  expect(got.map((p) => p.accepted)).toEqual(want.map((p) => p.accepted));
  let worst = 0;
  got.forEach((p, i) => { worst = Math.max(worst, Math.abs(p.score - want[i].score)); });
  expect(worst).toBeLessThanOrEqual(SCORE_TOLERANCE);
  return worst;
}

describe.skipIf(chromiumMissing)('the exported page on WebGPU (headless Chromium, SwiftShader adapter)', () => {
  it('runs on webgpu, shows it, and answers as wasm does (labels, unknown flags, scores within 1e-3)', async () => {
    const r = await runPage(WEBGPU_SWITCHES);
    expect(r.backend).toBe('webgpu');
    expect(r.status).toMatch(/webgpu backend/);
    expect(r.requested).toContain('/tf-backend-webgpu.min.js');
    const worst = expectSameAnswers(r.answers, wasmAnswers);
    console.log(`page-webgpu: largest |score(webgpu) − score(wasm)| over ${N} images: ${worst.toExponential(2)}`);
    for (const f of pngs) {
      const card = r.cards.find((c) => c.name === f.name)!;
      expect(card.label).toBe(wasmAnswers[f.index].label);
      expect(Math.abs(card.score - wasmAnswers[f.index].score)).toBeLessThanOrEqual(SCORE_TOLERANCE);
    }
    expect(r.problems).toEqual([]);
  }, 180_000);

  it('without WebGPU it runs on the backend it used before, and never fetches the WebGPU backend', async () => {
    const r = await runPage([]);
    console.log(`page-webgpu: without the WebGPU switches the page runs on ${r.backend}`);
    expect(['webgl', 'cpu']).toContain(r.backend);
    expect(r.status).toMatch(new RegExp(`${r.backend} backend`));
    expect(r.requested).not.toContain('/tf-backend-webgpu.min.js');
    expectSameAnswers(r.answers, wasmAnswers);
    expect(r.problems).toEqual([]);
  }, 180_000);
});
