import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSet, normalize, type ImageSet } from '../../src/data/index.js';
import { thresholdAtTpr } from '../../src/metrics/index.js';
import { writeRun } from '../../src/run/folder.js';
import { ash, fittedScoreSpec, knn, react, rmds, scale, vim, type Detector as ScoreDetector, type LabelledOutputsIn, type OutputsIn } from '../../src/scores/index.js';
import { initEngine } from '../../src/engine/backend.js';
import { exportBundle } from '../../src/export/bundle.js';
import { createDetector, loadDetector, type Detector, type ImageDataLike, type Prediction } from '../../src/export/loader.js';
import { readRun } from '../../src/run/folder.js';
import { chromiumMissing, openBrowser, serveStatic } from '../fixtures/browser.js';
import { buildTinyRun, type TinyRun } from '../fixtures/tiny-run.js';
import { expectAresError, runCli } from '../run/helpers.js';

/**
 * `ares export`: the bundle loads in Node (library loadDetector, and the bundle's own Node build)
 * and in headless Chromium (the bundle's loader.js + tfjs, served from 127.0.0.1), and all of them
 * give the same answers for the same images: labels exactly, scores within 1e-3.
 */
const REPO = resolve(import.meta.dirname, '..', '..');
// Inside the repository (git-ignored tmp/) so the bundle's Node build can resolve @tensorflow/tfjs.
mkdirSync(join(REPO, 'tmp'), { recursive: true });
const dir = mkdtempSync(join(REPO, 'tmp', 'export-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const runDir = join(dir, 'run');
const bundleDir = join(dir, 'bundle');

let run: TinyRun;
let images: Float32Array; // [N, 28, 28, 1]
let N = 0;
let nodeAnswers: Prediction[];
let rgba: ImageDataLike[];
let nodeRgbaAnswers: Prediction[];
/** Feature-based scores: their bundles, and what Node answers with each. */
const FITTED = ['knn', 'vim', 'rmds', 'react', 'ash', 'scale'] as const;
const fittedBundles = join(dir, 'fitted-bundles');
const fittedAnswers = new Map<string, Prediction[]>();
const fittedDirect = new Map<string, Float64Array>();

function pick(set: ImageSet, n: number): Float32Array {
  return set.images.slice(0, n * 28 * 28);
}

/** RGBA 0–255 pixels, as a canvas's getImageData gives them. */
function toImageData(px: Float32Array): ImageDataLike {
  const data = new Uint8ClampedArray(px.length * 4);
  px.forEach((v, i) => { data.set([Math.round(v * 255), Math.round(v * 255), Math.round(v * 255), 255], i * 4); });
  return { width: 28, height: 28, data };
}

async function answers(d: Detector, x: Float32Array | ImageDataLike[]): Promise<Prediction[]> {
  if (!(x instanceof Float32Array)) return d.predict(x);
  const t = tf.tensor4d(x, [x.length / 784, 28, 28, 1]);
  try { return await d.predict(t); } finally { t.dispose(); }
}

function expectSame(a: Pick<Prediction, 'label' | 'score'>[], b: Pick<Prediction, 'label' | 'score'>[], tol = 1e-3): void {
  expect(a.map((p) => p.label)).toEqual(b.map((p) => p.label));
  a.forEach((p, i) => expect(Math.abs(p.score - b[i].score), `image ${i}`).toBeLessThanOrEqual(tol));
}

/** Logits and features of a set through a layers model inputs → [logits, features]. */
function outputsOf(model: tf.LayersModel, px: Float32Array, n: number, norm: { mean: number[]; std: number[] }) {
  return tf.tidy(() => {
    const [l, f] = model.predict(tf.tensor4d(normalize(px, [28, 28, 1], norm), [n, 28, 28, 1])) as tf.Tensor2D[];
    return { logits: { data: l.dataSync() as Float32Array, rows: n, cols: l.shape[1] }, features: { data: f.dataSync() as Float32Array, rows: n, cols: f.shape[1] } };
  });
}

/**
 * Copies of the run whose detector.json holds knn, vim, rmds, react, ash or scale fitted on the run's ID
 * training images (ViM, ReAct, ASH and SCALE with the head's kernel and bias), γ at 95% of its ID validation images; their bundles;
 * and each fitted detector's own scores of `images`, computed directly.
 */
async function writeFittedBundles(): Promise<void> {
  const r = readRun(runDir);
  const model = await r.loadModel();
  const norm = r.detector.normalization;
  const train = outputsOf(model, run.data.train.images, run.data.train.count, norm);
  const val = outputsOf(model, run.data.val.images, run.data.val.count, norm);
  const probe = outputsOf(model, images, N, norm);
  const [kernel, bias] = model.getLayer('head').getWeights();
  const head = { kernel: { data: Float32Array.from(kernel.dataSync()), rows: kernel.shape[0], cols: kernel.shape[1] }, bias: Float32Array.from(bias.dataSync()) };
  model.dispose();
  for (const name of FITTED) {
    const det: ScoreDetector<OutputsIn, LabelledOutputsIn, unknown> = ({ knn: () => knn(), vim: () => vim(), rmds: () => rmds(), react: () => react(), ash: () => ash(), scale: () => scale() })[name]();
    det.fit({ ...train, labels: run.data.train.labels!, head });
    fittedDirect.set(name, det.score(probe));
    const fittedRun = join(dir, `run-${name}`);
    cpSync(runDir, fittedRun, { recursive: true });
    await writeRun(fittedRun, {
      detector: { ...r.detector, score: fittedScoreSpec(det), threshold: { gamma: thresholdAtTpr(det.score(val), 0.95), tpr: 0.95, on: 'id-validation' } },
      thresholdCount: run.data.val.count,
    });
    await exportBundle(fittedRun, join(fittedBundles, name));
  }
}

beforeAll(async () => {
  await initEngine({ backend: 'cpu' });
  run = await buildTinyRun(runDir, { seed: 1 });
  await exportBundle(runDir, bundleDir);
  // Held-in test digits, held-out digits 6–9 and fresh Gaussian noise.
  const noise = generateSet('gaussian', { shape: [28, 28, 1], count: 6, seed: 4242, split: 'test' });
  const parts = [pick(run.data.test, 12), pick(run.data.ood[0], 6), pick(noise, 6)];
  N = 24;
  images = new Float32Array(N * 784);
  let at = 0;
  for (const p of parts) { images.set(p, at); at += p.length; }
  rgba = [0, 13, 20].map((i) => toImageData(images.subarray(i * 784, (i + 1) * 784)));
  const detector = await loadDetector(bundleDir);
  nodeAnswers = await answers(detector, images);
  nodeRgbaAnswers = await answers(detector, rgba);
  detector.dispose();
  await writeFittedBundles();
  for (const name of FITTED) {
    const d = await loadDetector(join(fittedBundles, name));
    fittedAnswers.set(name, await answers(d, images));
    d.dispose();
  }
});

describe('ares export', () => {
  it('writes a self-contained bundle whose loader imports only the tfjs copied beside it', () => {
    expect(readdirSync(bundleDir).sort()).toEqual(['.ares-ood.json', 'README.md', 'ares.json', 'index.html', 'loader.d.ts', 'loader.js', 'loader.node.js', 'model.json', 'package.json', 'score-histogram.json', 'tf-backend-webgpu.min.js', 'tf.fesm.min.js', 'weights.bin']);
    expect(JSON.parse(readFileSync(join(bundleDir, 'ares.json'), 'utf8'))).toEqual(run.detector);
    const loader = readFileSync(join(bundleDir, 'loader.js'), 'utf8');
    const staticImports = [...loader.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(new Set(staticImports)).toEqual(new Set(['./tf.fesm.min.js']));
    expect(readFileSync(join(bundleDir, 'tf.fesm.min.js'), 'utf8')).not.toMatch(/sourceMappingURL/);
  });

  it('gives the same answers from the bundle, the run folder and the in-memory model (Node)', async () => {
    const fromRun = await answers(await loadDetector(runDir), images);
    const r = readRun(runDir);
    const mem = createDetector(await r.loadModel(), r.detector);
    const before = tf.memory().numTensors;
    const inMemory = await answers(mem, images);
    expect(tf.memory().numTensors, 'predict leaks no tensors').toBe(before);
    mem.dispose();
    expect(fromRun).toEqual(nodeAnswers);
    expect(inMemory).toEqual(nodeAnswers);
    // Sanity that the comparison is not vacuous: both outcomes occur among these images.
    expect(nodeAnswers.some((p) => p.label === 'unknown')).toBe(true);
    expect(nodeAnswers.some((p) => p.label !== 'unknown')).toBe(true);
    // ImageData-like RGBA input (0–255) is converted to the model's grey [0, 1] input: the same
    // answers as the float pixels, up to the 8-bit rounding.
    expectSame(nodeRgbaAnswers, [0, 13, 20].map((i) => nodeAnswers[i]), 2e-2);
  });

  it('the bundle\'s own Node build loads it too', async () => {
    const mod = await import(pathToFileURL(join(bundleDir, 'loader.node.js')).href);
    const d = await mod.loadDetector(bundleDir) as Detector;
    expectSame(await answers(d, images), nodeAnswers, 1e-6);
  });

  it.skipIf(chromiumMissing)('gives the same answers in headless Chromium (cpu and webgl backends)', async () => {
    const page0 = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>bundle test</title>
<script type="module">
  import * as tf from './tf.fesm.min.js';
  import { loadDetector } from './loader.js';
  window.classify = async (backend, pixels, rgba) => {
    if (!(await tf.setBackend(backend))) return null;
    await tf.ready();
    const d = await loadDetector('./');
    const x = tf.tensor4d(Float32Array.from(pixels), [pixels.length / 784, 28, 28, 1]);
    const byTensor = await d.predict(x);
    const byImageData = await d.predict(rgba.map((r) => ({ width: r.width, height: r.height, data: Uint8ClampedArray.from(r.data) })));
    x.dispose(); d.dispose();
    return { backend: tf.getBackend(), byTensor, byImageData };
  };
  window.ready = true;
</script>`;
    const server = await serveStatic(bundleDir, { '/index.html': page0 });
    const { browser, page, problems } = await openBrowser();
    try {
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const rgbaPlain = rgba.map((r) => ({ width: r.width, height: r.height, data: Array.from(r.data) }));
      let compared = 0;
      for (const backend of ['cpu', 'webgl']) {
        const got = await page.evaluate(([b, px, im]) => (window as unknown as { classify: Function }).classify(b, px, im), [backend, Array.from(images), rgbaPlain] as const);
        if (got === null) { console.log(`export test: the ${backend} backend is not available in this Chromium; skipped it`); continue; }
        expect(got.backend).toBe(backend);
        expectSame(got.byTensor, nodeAnswers);
        expectSame(got.byImageData, nodeRgbaAnswers);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(1);
      expect(problems).toEqual([]);
      // Only the bundle's own files were requested: nothing from a CDN, no 404s.
      expect(new Set(server.requests)).toEqual(new Set(['/index.html', '/tf.fesm.min.js', '/loader.js', '/ares.json', '/model.json', '/weights.bin']));
    } finally {
      await browser.close();
      await server.close();
    }
  });

  it('knn, vim, rmds, react, ash and scale bundles (Node) score as the fitted detectors do, and reject noise', () => {
    for (const name of FITTED) {
      const got = fittedAnswers.get(name)!;
      const direct = fittedDirect.get(name)!;
      // float32 inside the bundle against float64 here: agree to 1e-6 relative (scores reach a few hundred).
      got.forEach((p, i) => expect(Math.abs(p.score - direct[i]), `${name} image ${i}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(direct[i])) + 1e-4));
      const spec = JSON.parse(readFileSync(join(fittedBundles, name, 'ares.json'), 'utf8'));
      expect(spec.score.name).toBe(name);
      // The last 6 images are Gaussian noise: far from the digits for every feature-based score.
      expect(got.slice(18).every((p) => p.label === 'unknown'), name).toBe(true);
      expect(got.slice(0, 12).filter((p) => p.label !== 'unknown').length, name).toBeGreaterThanOrEqual(8);
    }
  });

  it.skipIf(chromiumMissing)('knn, vim, rmds, react, ash and scale bundles give the same scores in headless Chromium as in Node', async () => {
    const page0 = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>fitted bundles</title>
<script type="module">
  import * as tf from './knn/tf.fesm.min.js';
  import { loadDetector } from './knn/loader.js';
  window.classify = async (backend, names, pixels) => {
    if (!(await tf.setBackend(backend))) return null;
    await tf.ready();
    const out = {};
    for (const name of names) {
      const d = await loadDetector('./' + name + '/');
      const x = tf.tensor4d(Float32Array.from(pixels), [pixels.length / 784, 28, 28, 1]);
      out[name] = await d.predict(x);
      x.dispose(); d.dispose();
    }
    return { backend: tf.getBackend(), out };
  };
  window.ready = true;
</script>`;
    const server = await serveStatic(fittedBundles, { '/index.html': page0 });
    const { browser, page, problems } = await openBrowser();
    try {
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      let compared = 0;
      for (const backend of ['cpu', 'webgl']) {
        const got = await page.evaluate(([b, names, px]) => (window as unknown as { classify: Function }).classify(b, names, px), [backend, FITTED, Array.from(images)] as const);
        if (got === null) { console.log(`export test: the ${backend} backend is not available in this Chromium; skipped it`); continue; }
        expect(got.backend).toBe(backend);
        for (const name of FITTED) expectSame(got.out[name], fittedAnswers.get(name)!);
        compared++;
      }
      expect(compared).toBeGreaterThanOrEqual(1);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  });

  it('refuses to overwrite an unrelated folder and names missing bundles', async () => {
    const other = join(dir, 'not-a-bundle');
    mkdirSync(other);
    writeFileSync(join(other, 'thesis.tex'), 'precious');
    const e = await expectAresError(() => exportBundle(runDir, other), 'not empty and is not an exported bundle', other);
    expect(e.exitCode).toBe(2);
    expect(readdirSync(other)).toEqual(['thesis.tex']);
    await expectAresError(() => exportBundle(join(dir, 'missing-run'), join(dir, 'out')), 'run folder not found');
    await expectAresError(() => loadDetector(other), 'not an ares bundle or run folder', other);
    const noModel = join(dir, 'no-model');
    mkdirSync(noModel);
    writeFileSync(join(noModel, 'ares.json'), JSON.stringify(run.detector));
    await expectAresError(() => loadDetector(noModel), 'missing model file', 'model.json');
  });

  it('CLI: ares export --run --out replaces an earlier bundle', () => {
    const r = runCli(['export', '--run', runDir, '--out', bundleDir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).files).toContain('loader.js');
    const bad = runCli(['export', '--run', join(dir, 'missing-run'), '--out', join(dir, 'o2')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ares: error: .*missing-run: run folder not found/);
  });
});
